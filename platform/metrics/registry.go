// Package metrics is a small metrics registry that writes the Prometheus
// text exposition format (version 0.0.4).
//
// It exists because the product's dependency list is fixed to the standard
// library and nats.go, so the Prometheus client library is not an option.
// It covers what the services need and no more: counters, gauges, gauges
// read at scrape time, and histograms, each with optional labels.
//
// Registering a metric is a startup-time act and a mistake there (a duplicate
// name, a malformed name, a wrong number of label values) is a programming
// error, so those panic rather than return errors nobody could handle.
// Recording values is the hot path: it takes no lock once a labelled series
// exists and does not allocate, and callers that record on every request
// should resolve their series once with With and keep the result.
package metrics

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
)

// DefaultLatencyBuckets are histogram upper bounds in seconds, from half a
// millisecond to ten seconds. They are dense below 100ms, where a NATS request
// served from a warm database should land, and sparse above, where only the
// slow tail and timeouts live.
var DefaultLatencyBuckets = []float64{
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// family is one named metric with all its series. It appends its exposition
// to a buffer so that a scrape builds the whole page in one allocation run.
type family interface {
	familyName() string
	appendText(b []byte) []byte
}

// Registry holds metric families and writes them out on a scrape. The zero
// value is not usable; call NewRegistry.
type Registry struct {
	mu       sync.Mutex
	families map[string]family
	// samples holds every sample name in use, including a histogram's
	// _bucket, _sum and _count, so that a counter named "x_count" cannot
	// silently collide with the series of a histogram named "x".
	samples map[string]string
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{
		families: make(map[string]family),
		samples:  make(map[string]string),
	}
}

// register adds f, or panics if any of its sample names is taken.
func (r *Registry) register(f family, sampleNames ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range sampleNames {
		if owner, ok := r.samples[s]; ok {
			panic(fmt.Sprintf("metrics: %q is already registered (by metric %q)", s, owner))
		}
	}
	for _, s := range sampleNames {
		r.samples[s] = f.familyName()
	}
	r.families[f.familyName()] = f
}

// Counter registers a counter family: a value that only goes up, such as a
// number of requests. With no label names the family has exactly one series,
// reached with With().
func (r *Registry) Counter(name, help string, labelNames ...string) *CounterVec {
	checkMetricName(name)
	v := &CounterVec{vec: newVec(name, help, labelNames, func() *Counter { return new(Counter) })}
	r.register(v, name)
	return v
}

// Gauge registers a gauge family: a value that goes up and down, such as the
// number of requests in flight.
func (r *Registry) Gauge(name, help string, labelNames ...string) *GaugeVec {
	checkMetricName(name)
	v := &GaugeVec{vec: newVec(name, help, labelNames, func() *Gauge { return new(Gauge) })}
	r.register(v, name)
	return v
}

// GaugeFunc registers an unlabelled gauge whose value is read by calling f at
// scrape time. It suits values that some other component already tracks,
// such as a connection pool's size, so they need not be copied on every
// change. f is called without any registry lock held and must be safe to call
// from any goroutine.
func (r *Registry) GaugeFunc(name, help string, f func() float64) {
	checkMetricName(name)
	if f == nil {
		panic(fmt.Sprintf("metrics: GaugeFunc %q has a nil function", name))
	}
	r.register(&gaugeFunc{name: name, help: help, f: f}, name)
}

// Histogram registers a histogram family. buckets are the upper bounds,
// strictly increasing; the +Inf bucket is implicit and may be left out. A nil
// or empty buckets uses DefaultLatencyBuckets. The label name "le" is
// reserved for the buckets.
func (r *Registry) Histogram(name, help string, buckets []float64, labelNames ...string) *HistogramVec {
	checkMetricName(name)
	if slices.Contains(labelNames, "le") {
		panic(fmt.Sprintf("metrics: histogram %q cannot use the label name \"le\"", name))
	}
	upper := checkBuckets(name, buckets)
	v := &HistogramVec{upper: upper}
	v.vec = newVec(name, help, labelNames, func() *Histogram { return newHistogram(upper) })
	r.register(v, name, name+"_bucket", name+"_sum", name+"_count")
	return v
}

// WriteTo writes every family in the Prometheus text format, sorted by name
// and, within a family, by label values, so that two scrapes of the same
// state are byte-for-byte equal. It implements io.WriterTo.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	// Copy the family list and let go of the lock before writing, so that
	// a slow GaugeFunc or a slow client never holds up registration.
	r.mu.Lock()
	fams := make([]family, 0, len(r.families))
	for _, f := range r.families {
		fams = append(fams, f)
	}
	r.mu.Unlock()
	sort.Slice(fams, func(i, j int) bool { return fams[i].familyName() < fams[j].familyName() })

	var b []byte
	for _, f := range fams {
		b = f.appendText(b)
	}
	n, err := w.Write(b)
	return int64(n), err
}

// ContentType is the media type of the exposition that WriteTo produces.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Handler returns an http.Handler that serves the registry's exposition.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		// Build the page first: once the first byte is written the status
		// is 200, and a half-written page would be read as valid.
		var buf bytes.Buffer
		if _, err := r.WriteTo(&buf); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		_, _ = w.Write(buf.Bytes())
	})
}

// appendHeader writes the HELP and TYPE lines of a family.
func appendHeader(b []byte, name, help, typ string) []byte {
	b = append(b, "# HELP "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = appendEscaped(b, help, false)
	b = append(b, "\n# TYPE "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, typ...)
	return append(b, '\n')
}

// appendEscaped escapes a HELP text (backslash and newline) or, with quote
// set, a label value (also the double quote), as the text format requires.
// Invalid UTF-8 is replaced because the format is defined as UTF-8 and a
// scraper would reject the whole page over one bad byte.
func appendEscaped(b []byte, s string, quote bool) []byte {
	s = strings.ToValidUTF8(s, "\uFFFD")
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

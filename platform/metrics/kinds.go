package metrics

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"sync/atomic"
)

// addFloat adds v to a float64 stored as bits. A compare-and-swap loop is
// used because there is no atomic float add; under contention it retries,
// which is still far cheaper than a mutex.
func addFloat(bits *atomic.Uint64, v float64) {
	for {
		old := bits.Load()
		if bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// CounterVec is a counter family. Get a series with With.
type CounterVec struct{ *vec[Counter] }

// With returns the series for the given label values, in the order of the
// label names given at registration. It panics if the count is wrong.
func (v *CounterVec) With(labelValues ...string) *Counter { return v.with(labelValues) }

func (v *CounterVec) appendText(b []byte) []byte {
	es := v.sorted()
	if len(es) == 0 {
		return b
	}
	b = appendHeader(b, v.name, v.help, "counter")
	for _, e := range es {
		b = appendSample(b, v.name, v.labelNames, e.values, "", "", e.child.Value())
	}
	return b
}

// Counter is one counter series. It is safe for concurrent use.
type Counter struct {
	// Whole increments go to n, a plain atomic add; only fractional
	// amounts pay for the compare-and-swap loop on bits.
	n    atomic.Uint64
	bits atomic.Uint64
}

// Inc adds one.
func (c *Counter) Inc() { c.n.Add(1) }

// Add adds v, which must not be negative: a counter that went down would be
// read by Prometheus as a process restart.
func (c *Counter) Add(v float64) {
	if !(v >= 0) {
		panic(fmt.Sprintf("metrics: counter cannot add %v", v))
	}
	if v < 1<<53 && v == math.Trunc(v) {
		c.n.Add(uint64(v))
		return
	}
	addFloat(&c.bits, v)
}

// Value returns the current total.
func (c *Counter) Value() float64 {
	return float64(c.n.Load()) + math.Float64frombits(c.bits.Load())
}

// GaugeVec is a gauge family. Get a series with With.
type GaugeVec struct{ *vec[Gauge] }

// With returns the series for the given label values, in the order of the
// label names given at registration. It panics if the count is wrong.
func (v *GaugeVec) With(labelValues ...string) *Gauge { return v.with(labelValues) }

func (v *GaugeVec) appendText(b []byte) []byte {
	es := v.sorted()
	if len(es) == 0 {
		return b
	}
	b = appendHeader(b, v.name, v.help, "gauge")
	for _, e := range es {
		b = appendSample(b, v.name, v.labelNames, e.values, "", "", e.child.Value())
	}
	return b
}

// Gauge is one gauge series. It is safe for concurrent use.
type Gauge struct{ bits atomic.Uint64 }

// Set sets the value.
func (g *Gauge) Set(v float64) { g.bits.Store(math.Float64bits(v)) }

// Add adds v, which may be negative.
func (g *Gauge) Add(v float64) { addFloat(&g.bits, v) }

// Inc adds one.
func (g *Gauge) Inc() { g.Add(1) }

// Dec subtracts one.
func (g *Gauge) Dec() { g.Add(-1) }

// Value returns the current value.
func (g *Gauge) Value() float64 { return math.Float64frombits(g.bits.Load()) }

// gaugeFunc is an unlabelled gauge read at scrape time.
type gaugeFunc struct {
	name, help string
	f          func() float64
}

func (g *gaugeFunc) familyName() string { return g.name }

func (g *gaugeFunc) appendText(b []byte) []byte {
	b = appendHeader(b, g.name, g.help, "gauge")
	return appendSample(b, g.name, nil, nil, "", "", g.f())
}

// HistogramVec is a histogram family. Get a series with With.
type HistogramVec struct {
	*vec[Histogram]
	upper []float64
}

// With returns the series for the given label values, in the order of the
// label names given at registration. It panics if the count is wrong.
func (v *HistogramVec) With(labelValues ...string) *Histogram { return v.with(labelValues) }

func (v *HistogramVec) appendText(b []byte) []byte {
	es := v.sorted()
	if len(es) == 0 {
		return b
	}
	// The "le" values are the same for every series; format them once.
	les := make([]string, len(v.upper)+1)
	for i, u := range v.upper {
		les[i] = string(appendFloat(nil, u))
	}
	les[len(v.upper)] = "+Inf"

	b = appendHeader(b, v.name, v.help, "histogram")
	bucket, sum, count := v.name+"_bucket", v.name+"_sum", v.name+"_count"
	for _, e := range es {
		s := e.child.Snapshot()
		for i, c := range s.Cumulative {
			b = appendSample(b, bucket, v.labelNames, e.values, "le", les[i], float64(c))
		}
		b = appendSample(b, sum, v.labelNames, e.values, "", "", s.Sum)
		b = appendSample(b, count, v.labelNames, e.values, "", "", float64(s.Count))
	}
	return b
}

// Histogram is one histogram series. It is safe for concurrent use.
type Histogram struct {
	upper []float64
	// counts[i] is the number of observations in bucket i alone (not
	// cumulative), with one extra bucket for values above every bound.
	// There is no separate total: it is the sum of counts, so _count
	// always equals the +Inf bucket even in a scrape racing Observe.
	counts  []atomic.Uint64
	sumBits atomic.Uint64
}

func newHistogram(upper []float64) *Histogram {
	return &Histogram{upper: upper, counts: make([]atomic.Uint64, len(upper)+1)}
}

// Observe records one value. A value equal to a bucket's upper bound falls
// in that bucket, as the "le" (less or equal) label says.
func (h *Histogram) Observe(v float64) {
	// SearchFloat64s finds the first bound >= v; NaN matches no bound and
	// lands in +Inf.
	h.counts[sort.SearchFloat64s(h.upper, v)].Add(1)
	addFloat(&h.sumBits, v)
}

// HistogramSnapshot is a histogram's state at one moment.
type HistogramSnapshot struct {
	// Upper are the bucket bounds, without +Inf.
	Upper []float64
	// Cumulative[i] counts the observations <= Upper[i]; its last entry,
	// one past Upper, is the +Inf bucket and equals Count.
	Cumulative []uint64
	Sum        float64
	Count      uint64
}

// Snapshot returns the current state, for tests and for callers that want
// the figures without parsing the exposition.
func (h *Histogram) Snapshot() HistogramSnapshot {
	s := HistogramSnapshot{Upper: slices.Clone(h.upper), Cumulative: make([]uint64, len(h.counts))}
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
		s.Cumulative[i] = n
	}
	s.Count = n
	s.Sum = math.Float64frombits(h.sumBits.Load())
	return s
}

// checkBuckets validates and copies the bucket bounds, dropping a trailing
// +Inf because that bucket is always written.
func checkBuckets(name string, buckets []float64) []float64 {
	if len(buckets) == 0 {
		buckets = DefaultLatencyBuckets
	}
	upper := slices.Clone(buckets)
	if math.IsInf(upper[len(upper)-1], +1) {
		upper = upper[:len(upper)-1]
	}
	for i, u := range upper {
		if math.IsNaN(u) || math.IsInf(u, 0) || (i > 0 && u <= upper[i-1]) {
			panic(fmt.Sprintf("metrics: histogram %q buckets must be finite and strictly increasing: %v", name, buckets))
		}
	}
	return upper
}

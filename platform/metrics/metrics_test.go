package metrics_test

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"tsbank/platform/metrics"
)

func expose(t testing.TB, r *metrics.Registry) string {
	t.Helper()
	var buf bytes.Buffer
	n, err := r.WriteTo(&buf)
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo reported %d bytes, wrote %d", n, buf.Len())
	}
	return buf.String()
}

func TestExpositionMatchesTextFormat(t *testing.T) {
	t.Parallel()
	r := metrics.NewRegistry()

	reqs := r.Counter("tsbank_requests_total", "Requests handled.", "service", "endpoint")
	reqs.With("account", "open").Add(2)
	reqs.With("account", "close").Inc()
	reqs.With("account", "open").Add(0.5)

	r.Gauge("tsbank_in_flight", "Requests in flight.").With().Set(-3)
	r.GaugeFunc("tsbank_pool_size", "Connections in the pool.", func() float64 { return 7 })

	h := r.Histogram("tsbank_latency_seconds", "Latency.", []float64{0.1, 1}, "endpoint")
	h.With("open").Observe(0.05)
	h.With("open").Observe(0.1)
	h.With("open").Observe(3)

	r.Counter("tsbank_unused_total", "Never used, has labels.", "code")
	r.Counter("tsbank_zero_total", "Never used, no labels.")

	want := `# HELP tsbank_in_flight Requests in flight.
# TYPE tsbank_in_flight gauge
tsbank_in_flight -3
# HELP tsbank_latency_seconds Latency.
# TYPE tsbank_latency_seconds histogram
tsbank_latency_seconds_bucket{endpoint="open",le="0.1"} 2
tsbank_latency_seconds_bucket{endpoint="open",le="1"} 2
tsbank_latency_seconds_bucket{endpoint="open",le="+Inf"} 3
tsbank_latency_seconds_sum{endpoint="open"} 3.15
tsbank_latency_seconds_count{endpoint="open"} 3
# HELP tsbank_pool_size Connections in the pool.
# TYPE tsbank_pool_size gauge
tsbank_pool_size 7
# HELP tsbank_requests_total Requests handled.
# TYPE tsbank_requests_total counter
tsbank_requests_total{service="account",endpoint="close"} 1
tsbank_requests_total{service="account",endpoint="open"} 2.5
# HELP tsbank_zero_total Never used, no labels.
# TYPE tsbank_zero_total counter
tsbank_zero_total 0
`
	if got := expose(t, r); got != want {
		t.Errorf("exposition differs\n--- got\n%s--- want\n%s", got, want)
	}
}

func TestLabelValuesAndHelpAreEscaped(t *testing.T) {
	t.Parallel()
	r := metrics.NewRegistry()
	c := r.Counter("x_total", "a \\ back\nslash \"quoted\"", "v")
	c.With("q\"b\\n\nz").Inc()
	c.With("bad\xffutf8").Inc()

	want := `# HELP x_total a \\ back\nslash "quoted"
# TYPE x_total counter
x_total{v="bad` + "\uFFFD" + `utf8"} 1
x_total{v="q\"b\\n\nz"} 1
`
	if got := expose(t, r); got != want {
		t.Errorf("exposition differs\n--- got\n%s--- want\n%s", got, want)
	}
}

func TestInvalidUTF8ValuesThatCleanAlikeShareASeries(t *testing.T) {
	t.Parallel()
	r := metrics.NewRegistry()
	c := r.Counter("x_total", "x", "v")
	c.With("a\xff").Inc()
	c.With("a\xfe").Inc()
	c.With("a\uFFFD").Inc()
	if got := c.With("a\xff").Value(); got != 3 {
		t.Errorf("shared series = %v, want 3", got)
	}
	if got := strings.Count(expose(t, r), "x_total{"); got != 1 {
		t.Errorf("exposition has %d series, want 1", got)
	}
}

func TestHistogramBuckets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		buckets []float64
		observe []float64
		want    []uint64 // cumulative, last is +Inf
	}{
		{"value equal to a bound counts in that bound", []float64{1, 2}, []float64{1, 2}, []uint64{1, 2, 2}},
		{"value just above a bound counts in the next", []float64{1, 2}, []float64{math.Nextafter(1, 2)}, []uint64{0, 1, 1}},
		{"value above every bound counts only in +Inf", []float64{1, 2}, []float64{2.5, 100}, []uint64{0, 0, 2}},
		{"negative value counts in the first bound", []float64{0, 1}, []float64{-5}, []uint64{1, 1, 1}},
		{"NaN counts only in +Inf", []float64{1}, []float64{math.NaN()}, []uint64{0, 1}},
		{"trailing +Inf bound is implicit", []float64{1, math.Inf(1)}, []float64{0.5, 9}, []uint64{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := metrics.NewRegistry()
			h := r.Histogram("h", "h", tt.buckets).With()
			for _, v := range tt.observe {
				h.Observe(v)
			}
			s := h.Snapshot()
			if !slices.Equal(s.Cumulative, tt.want) {
				t.Errorf("cumulative = %v, want %v", s.Cumulative, tt.want)
			}
			if s.Count != uint64(len(tt.observe)) {
				t.Errorf("count = %d, want %d", s.Count, len(tt.observe))
			}
		})
	}
}

func TestHistogramDefaultBucketsAreLatencyBuckets(t *testing.T) {
	t.Parallel()
	r := metrics.NewRegistry()
	r.Histogram("d", "d", nil).With().Observe(0.0005)
	out := expose(t, r)
	for _, le := range []string{`le="0.0005"} 1`, `le="10"} 1`, `le="+Inf"} 1`} {
		if !strings.Contains(out, le) {
			t.Errorf("exposition lacks %s:\n%s", le, out)
		}
	}
	if n := strings.Count(out, "d_bucket{"); n != len(metrics.DefaultLatencyBuckets)+1 {
		t.Errorf("%d buckets written, want %d", n, len(metrics.DefaultLatencyBuckets)+1)
	}
}

func TestCounterSumsWholeAndFractionalAdds(t *testing.T) {
	t.Parallel()
	c := metrics.NewRegistry().Counter("c", "c").With()
	c.Inc()
	c.Add(2)
	c.Add(0.25)
	c.Add(1e300)
	if got, want := c.Value(), 3.25+1e300; got != want {
		t.Errorf("value = %v, want %v", got, want)
	}
}

func TestProgrammingErrorsPanic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		f    func(r *metrics.Registry)
	}{
		{"same name twice", func(r *metrics.Registry) { r.Counter("a", ""); r.Gauge("a", "") }},
		{"counter named like a histogram's count", func(r *metrics.Registry) { r.Histogram("h", "", nil); r.Counter("h_count", "") }},
		{"histogram over an existing sum name", func(r *metrics.Registry) { r.Gauge("h_sum", ""); r.Histogram("h", "", nil) }},
		{"gauge func with a taken name", func(r *metrics.Registry) { r.Counter("a", ""); r.GaugeFunc("a", "", func() float64 { return 0 }) }},
		{"too few label values", func(r *metrics.Registry) { r.Counter("a", "", "x", "y").With("1") }},
		{"too many label values", func(r *metrics.Registry) { r.Counter("a", "").With("1") }},
		{"invalid metric name", func(r *metrics.Registry) { r.Counter("1a", "") }},
		{"invalid label name", func(r *metrics.Registry) { r.Counter("a", "", "a-b") }},
		{"reserved label name", func(r *metrics.Registry) { r.Counter("a", "", "__x") }},
		{"repeated label name", func(r *metrics.Registry) { r.Counter("a", "", "x", "x") }},
		{"histogram with le label", func(r *metrics.Registry) { r.Histogram("a", "", nil, "le") }},
		{"unsorted buckets", func(r *metrics.Registry) { r.Histogram("a", "", []float64{2, 1}) }},
		{"repeated bucket", func(r *metrics.Registry) { r.Histogram("a", "", []float64{1, 1}) }},
		{"negative counter add", func(r *metrics.Registry) { r.Counter("a", "").With().Add(-1) }},
		{"NaN counter add", func(r *metrics.Registry) { r.Counter("a", "").With().Add(math.NaN()) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Error("did not panic")
				}
			}()
			tt.f(metrics.NewRegistry())
		})
	}
}

func TestConcurrentUpdatesAreAllCounted(t *testing.T) {
	t.Parallel()
	r := metrics.NewRegistry()
	c := r.Counter("c_total", "c", "k")
	g := r.Gauge("g", "g")
	h := r.Histogram("h", "h", []float64{1}, "k")

	const workers, each = 8, 1000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			k := fmt.Sprint(w % 2)
			for range each {
				c.With(k).Inc()
				c.With(k).Add(0.5)
				g.With().Add(1)
				h.With(k).Observe(0.5)
			}
		})
	}
	// Scrape while writers run, to let the race detector see both sides.
	for range 10 {
		expose(t, r)
	}
	wg.Wait()

	total := c.With("0").Value() + c.With("1").Value()
	if want := float64(workers * each * 1.5); total != want {
		t.Errorf("counter total = %v, want %v", total, want)
	}
	if got, want := g.With().Value(), float64(workers*each); got != want {
		t.Errorf("gauge = %v, want %v", got, want)
	}
	if got := h.With("0").Snapshot().Count + h.With("1").Snapshot().Count; got != workers*each {
		t.Errorf("histogram count = %d, want %d", got, workers*each)
	}
}

func TestRecordingOnAnExistingSeriesDoesNotAllocate(t *testing.T) {
	r := metrics.NewRegistry()
	c := r.Counter("c_total", "c", "service", "endpoint")
	h := r.Histogram("h", "h", nil, "service", "endpoint")
	c.With("account", "open").Inc()
	h.With("account", "open").Observe(1)
	svc, ep := "account", "open"
	allocs := testing.AllocsPerRun(100, func() {
		c.With(svc, ep).Inc()
		h.With(svc, ep).Observe(0.01)
	})
	if allocs != 0 {
		t.Errorf("allocations per run = %v, want 0", allocs)
	}
}

func TestHandlerServesTextFormat(t *testing.T) {
	t.Parallel()
	r := metrics.NewRegistry()
	r.Counter("c_total", "c").With().Inc()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != metrics.ContentType {
		t.Errorf("content type = %q", ct)
	}
	if !strings.Contains(rec.Body.String(), "c_total 1\n") {
		t.Errorf("body lacks the counter:\n%s", rec.Body.String())
	}
}

func BenchmarkCounterInc(b *testing.B) {
	c := metrics.NewRegistry().Counter("c_total", "c", "service", "endpoint").With("account", "open")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Inc()
		}
	})
}

func BenchmarkCounterWithInc(b *testing.B) {
	c := metrics.NewRegistry().Counter("c_total", "c", "service", "endpoint", "code")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.With("account", "open", "404").Inc()
		}
	})
}

func BenchmarkHistogramObserve(b *testing.B) {
	h := metrics.NewRegistry().Histogram("h", "h", nil, "service", "endpoint").With("account", "open")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.Observe(0.003)
		}
	})
}

func BenchmarkWriteTo(b *testing.B) {
	r := metrics.NewRegistry()
	c := r.Counter("c_total", "c", "service", "endpoint")
	h := r.Histogram("h", "h", nil, "service", "endpoint")
	for i := range 20 {
		c.With("account", fmt.Sprint("e", i)).Inc()
		h.With("account", fmt.Sprint("e", i)).Observe(0.01)
	}
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		_, _ = r.WriteTo(&buf)
	}
}

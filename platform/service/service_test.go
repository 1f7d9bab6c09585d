package service_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"tsbank/contract"
	"tsbank/platform/service"
)

// runServer starts an in-process NATS server on a free port.
func runServer(t testing.TB) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

func connect(t testing.TB, s *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// addService starts a micro service with one endpoint per handler, each on
// the subject "test.<endpoint>".
func addService(t testing.TB, nc *nats.Conn, handlers map[string]micro.Handler) {
	t.Helper()
	svc, err := micro.AddService(nc, micro.Config{Name: "test", Version: "0.0.1"})
	if err != nil {
		t.Fatalf("add service: %v", err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	for name, h := range handlers {
		if err := svc.AddEndpoint(name, h, micro.WithEndpointSubject("test."+name)); err != nil {
			t.Fatalf("add endpoint %s: %v", name, err)
		}
	}
}

// checkFor calls f until it returns nil or total has passed.
func checkFor(t testing.TB, total, sleep time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(sleep)
	}
	t.Fatalf("condition not met after %v: %v", total, err)
}

// sample returns the value of one series from the registry's exposition,
// for example `tsbank_requests_total{service="s",endpoint="e"}`, or 0 if it
// is absent. The labels may be given in any order: the exposition sorts them
// by name.
func sample(t testing.TB, reg *prometheus.Registry, series string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	want := sortedLabels(series)
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || sortedLabels(name) != want {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("parse %q: %v", sc.Text(), err)
		}
		return f
	}
	return 0
}

// sortedLabels writes a series' labels in order of name (values in these tests have no commas).
func sortedLabels(series string) string {
	name, labels, ok := strings.Cut(series, "{")
	if !ok {
		return series
	}
	pairs := strings.Split(strings.TrimSuffix(labels, "}"), ",")
	slices.Sort(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

func wantSample(t testing.TB, reg *prometheus.Registry, series string, want float64) {
	t.Helper()
	if got := sample(t, reg, series); got != want {
		t.Errorf("%s = %v, want %v", series, got, want)
	}
}

// modes runs a test with handlers on micro's goroutine and with Async.
var modes = []struct {
	name  string
	instr func(in *service.Instr, nc *nats.Conn) *service.Instr
}{
	{"inline", func(in *service.Instr, _ *nats.Conn) *service.Instr { return in }},
	{"async", func(in *service.Instr, nc *nats.Conn) *service.Instr { return in.Async(nc, 4) }},
}

func TestRepliesAndErrorCodesAreCounted(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			ns := runServer(t)
			nc := connect(t, ns)
			reg := prometheus.NewRegistry()
			in := mode.instr(service.Instrument(reg, "acct"), nc)

			var silent atomic.Int32
			addService(t, nc, map[string]micro.Handler{
				"work": in.Handler("work", micro.HandlerFunc(func(req micro.Request) {
					switch string(req.Data()) {
					case "ok":
						_ = req.Respond([]byte("done"))
					case "json":
						_ = req.RespondJSON(map[string]int{"n": 1})
					case "404", "409":
						_ = req.Error(string(req.Data()), "refused", []byte("body"))
					case "header":
						_ = req.Respond(nil, micro.WithHeaders(micro.Headers{
							micro.ErrorCodeHeader: {"503"},
							micro.ErrorHeader:     {"by hand"},
						}))
					case "invalid":
						// micro rejects an empty description and sends
						// nothing, so nothing is counted; then a
						// proper reply follows.
						if err := req.Error("500", "", nil); err == nil {
							panic("empty description accepted")
						}
						_ = req.Respond([]byte("done"))
					case "silent":
						silent.Add(1)
					}
				})),
			})

			tests := []struct {
				data, wantCode, wantBody string
			}{
				{"ok", "", "done"},
				{"json", "", `{"n":1}`},
				{"404", "404", "body"},
				{"409", "409", "body"},
				{"404", "404", "body"},
				{"header", "503", ""},
				{"invalid", "", "done"},
			}
			for _, tt := range tests {
				msg, err := nc.Request("test.work", []byte(tt.data), 5*time.Second)
				if err != nil {
					t.Fatalf("request %s: %v", tt.data, err)
				}
				if got := msg.Header.Get(micro.ErrorCodeHeader); got != tt.wantCode {
					t.Errorf("%s: reply code %q, want %q", tt.data, got, tt.wantCode)
				}
				if string(msg.Data) != tt.wantBody {
					t.Errorf("%s: reply body %q, want %q", tt.data, msg.Data, tt.wantBody)
				}
				if tt.wantCode == "404" && msg.Header.Get(micro.ErrorHeader) != "refused" {
					t.Errorf("%s: reply description %q", tt.data, msg.Header.Get(micro.ErrorHeader))
				}
			}
			// A handler that never replies is still counted once it
			// returns.
			if err := nc.Publish("test.work", []byte("silent")); err != nil {
				t.Fatal(err)
			}

			const ep = `service="acct",endpoint="work"`
			total := float64(len(tests) + 1)
			checkFor(t, 5*time.Second, 10*time.Millisecond, func() error {
				if got := sample(t, reg, "tsbank_requests_total{"+ep+"}"); got != total {
					return fmt.Errorf("requests_total = %v, want %v", got, total)
				}
				return nil
			})
			wantSample(t, reg, `tsbank_request_errors_total{`+ep+`,code="404"}`, 2)
			wantSample(t, reg, `tsbank_request_errors_total{`+ep+`,code="409"}`, 1)
			wantSample(t, reg, `tsbank_request_errors_total{`+ep+`,code="503"}`, 1)
			wantSample(t, reg, `tsbank_request_errors_total{`+ep+`,code="500"}`, 0)
			wantSample(t, reg, `tsbank_request_duration_seconds_count{`+ep+`}`, total)
			wantSample(t, reg, `tsbank_requests_in_flight{`+ep+`}`, 0)
			if silent.Load() != 1 {
				t.Errorf("silent handler ran %d times", silent.Load())
			}
		})
	}
}

// gate is a handler that blocks until released and tracks how many of its
// calls run at once.
type gate struct {
	release chan struct{}
	running atomic.Int32
	mu      sync.Mutex
	max     int32
}

func newGate() *gate { return &gate{release: make(chan struct{})} }

func (g *gate) Handle(req micro.Request) {
	n := g.running.Add(1)
	g.mu.Lock()
	g.max = max(g.max, n)
	g.mu.Unlock()
	<-g.release
	g.running.Add(-1)
	_ = req.Respond([]byte("done"))
}

func (g *gate) maxRunning() int32 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.max
}

// requestAll sends n requests at once and returns a channel that yields
// each one's error.
func requestAll(nc *nats.Conn, subject string, n int) <-chan error {
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := nc.Request(subject, nil, 10*time.Second)
			errs <- err
		}()
	}
	return errs
}

func TestAsyncHandlersOverlapUpToTheLimit(t *testing.T) {
	t.Parallel()
	const limit, requests = 3, 9
	ns := runServer(t)
	nc := connect(t, ns)
	reg := prometheus.NewRegistry()
	in := service.Instrument(reg, "acct").Async(nc, limit)
	g := newGate()
	addService(t, nc, map[string]micro.Handler{"slow": in.Handler("slow", g)})

	errs := requestAll(nc, "test.slow", requests)
	// Every handler blocks until released, so reaching limit running at
	// once proves they overlap; run serially, only one would ever start.
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if n := g.running.Load(); n != limit {
			return fmt.Errorf("%d handlers running, want %d", n, limit)
		}
		return nil
	})
	// The others wait in their sender's queue, not in the client's pending
	// buffer: the gauge shows every one of them.
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if n := sample(t, reg, `tsbank_requests_in_flight{service="acct",endpoint="slow"}`); n != requests {
			return fmt.Errorf("in flight = %v, want %d", n, requests)
		}
		return nil
	})
	close(g.release)
	for range requests {
		if err := <-errs; err != nil {
			t.Errorf("request: %v", err)
		}
	}
	if m := g.maxRunning(); m > limit {
		t.Errorf("%d handlers ran at once, limit %d", m, limit)
	}
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if n := sample(t, reg, `tsbank_requests_total{service="acct",endpoint="slow"}`); n != requests {
			return fmt.Errorf("requests_total = %v, want %d", n, requests)
		}
		return nil
	})
}

func TestInlineHandlersRunOneAtATime(t *testing.T) {
	t.Parallel()
	ns := runServer(t)
	nc := connect(t, ns)
	in := service.Instrument(prometheus.NewRegistry(), "acct")
	g := newGate()
	addService(t, nc, map[string]micro.Handler{"slow": in.Handler("slow", g)})

	errs := requestAll(nc, "test.slow", 3)
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if n := g.running.Load(); n != 1 {
			return fmt.Errorf("%d handlers running, want 1", n)
		}
		return nil
	})
	close(g.release)
	for range 3 {
		if err := <-errs; err != nil {
			t.Errorf("request: %v", err)
		}
	}
	if m := g.maxRunning(); m != 1 {
		t.Errorf("%d handlers ran at once without Async", m)
	}
}

func TestShutdownWaitsForRunningHandlers(t *testing.T) {
	t.Parallel()
	ns := runServer(t)
	nc := connect(t, ns)
	in := service.Instrument(prometheus.NewRegistry(), "acct").Async(nc, 2)
	g := newGate()
	addService(t, nc, map[string]micro.Handler{"slow": in.Handler("slow", g)})

	errs := requestAll(nc, "test.slow", 2)
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if n := g.running.Load(); n != 2 {
			return fmt.Errorf("%d handlers running, want 2", n)
		}
		return nil
	})

	expired, cancel := context.WithCancel(context.Background())
	cancel()
	if err := in.Shutdown(expired); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown with handlers running and ctx done = %v, want context.Canceled", err)
	}

	done := make(chan error, 1)
	go func() { done <- in.Shutdown(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v while handlers were running", err)
	default:
	}
	close(g.release)
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("request: %v", err)
		}
	}

	// After Shutdown, a request still delivered runs inline and is
	// answered.
	if _, err := nc.Request("test.slow", nil, 5*time.Second); err != nil {
		t.Errorf("request after Shutdown: %v", err)
	}
}

func TestShutdownWithoutAsyncReturnsAtOnce(t *testing.T) {
	t.Parallel()
	in := service.Instrument(prometheus.NewRegistry(), "acct")
	if err := in.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestAsyncMisuseIsAProgrammingError(t *testing.T) {
	t.Parallel()
	ns := runServer(t)
	nc := connect(t, ns)
	tests := []struct {
		name  string
		nc    *nats.Conn
		limit int
	}{
		{"nil connection", nil, 1},
		{"zero limit", nc, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name+" panics", func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("did not panic")
				}
			}()
			service.Instrument(prometheus.NewRegistry(), "acct").Async(tt.nc, tt.limit)
		})
	}
}

// TestAsyncErrorRepliesUnderLoad answers a burst of concurrent requests
// with errors. Under -race it guards the reason Async publishes replies
// itself: answering through micro's request from the handler goroutine
// races with micro reading the request's error state.
func TestAsyncErrorRepliesUnderLoad(t *testing.T) {
	t.Parallel()
	const requests = 100 // no more than one sender may have waiting (16 × the limit) and running
	ns := runServer(t)
	nc := connect(t, ns)
	reg := prometheus.NewRegistry()
	in := service.Instrument(reg, "acct").Async(nc, 8)
	addService(t, nc, map[string]micro.Handler{"e": in.Handler("e", micro.HandlerFunc(func(req micro.Request) {
		_ = req.Error("404", "not found", nil)
	}))})

	errs := requestAll(nc, "test.e", requests)
	for range requests {
		if err := <-errs; err != nil {
			t.Errorf("request: %v", err)
		}
	}
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		series := `tsbank_request_errors_total{service="acct",endpoint="e",code="404"}`
		if n := sample(t, reg, series); n != requests {
			return fmt.Errorf("%s = %v, want %d", series, n, requests)
		}
		return nil
	})
}

// flood publishes n requests to subject from nc without waiting for any, and returns a function
// that reports how many replies have come back so far, and how many of them were overloaded
// (with the retry hint).
func flood(t *testing.T, nc *nats.Conn, subject string, n int) func() (replies, overloaded int) {
	t.Helper()
	var mu sync.Mutex
	var got, over int
	inbox := nats.NewInbox()
	sub, err := nc.Subscribe(inbox+".*", func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		got++
		if m.Header.Get(micro.ErrorCodeHeader) == contract.CodeOverloaded && m.Header.Get(contract.RetryAfterHeader) != "" {
			over++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	for i := range n {
		if err := nc.PublishRequest(subject, fmt.Sprintf("%s.%d", inbox, i), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return got, over
	}
}

// TestOneSendersFloodNeitherStarvesAnotherNorGrowsWithoutBound: one connection sends 1,000
// requests without waiting to an endpoint that runs two at a time, each until the test lets it
// finish. What one sender may keep waiting (16 × 2) waits; the rest of the flood is answered at
// once with overloaded and a retry hint, and nothing is done for it. Another connection's request
// is then served in its turn, after at most the two running and one more of the flood's, not
// after everything the flood has waiting (before, it waited behind every request of the flood,
// in the client's pending buffer).
func TestOneSendersFloodNeitherStarvesAnotherNorGrowsWithoutBound(t *testing.T) {
	t.Parallel()
	const limit, n, waiting = 2, 1000, 16 * 2
	ns := runServer(t)
	svcConn := connect(t, ns)
	reg := prometheus.NewRegistry()
	in := service.Instrument(reg, "acct").Async(svcConn, limit)
	proceed := make(chan struct{})
	var handled, otherAt atomic.Int64 // otherAt: the other sender's place among the handled
	addService(t, svcConn, map[string]micro.Handler{"work": in.Handler("work", micro.HandlerFunc(func(req micro.Request) {
		<-proceed
		if h := handled.Add(1); string(req.Data()) == "other" {
			otherAt.Store(h)
		}
		_ = req.Respond([]byte("ok"))
	}))})
	inFlight := func(want float64) func() error {
		return func() error {
			if got := sample(t, reg, `tsbank_requests_in_flight{service="acct",endpoint="work"}`); got != want {
				return fmt.Errorf("in flight %v, want %v", got, want)
			}
			return nil
		}
	}

	replies := flood(t, connect(t, ns), "test.work", n)
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if got, over := replies(); got != n-limit-waiting || over != got {
			return fmt.Errorf("%d replies, %d of them overloaded; want %d overloaded", got, over, n-limit-waiting)
		}
		return nil
	})
	checkFor(t, 5*time.Second, 5*time.Millisecond, inFlight(limit+waiting))
	other := make(chan error, 1)
	go func() {
		_, err := connect(t, ns).Request("test.work", []byte("other"), 30*time.Second)
		other <- err
	}()
	checkFor(t, 5*time.Second, 5*time.Millisecond, inFlight(limit+waiting+1))
	for released := int64(1); otherAt.Load() == 0 && released <= limit+waiting+1; released++ {
		proceed <- struct{}{}
		checkFor(t, 5*time.Second, time.Millisecond, func() error {
			if h := handled.Load(); h != released {
				return fmt.Errorf("%d handled, %d released", h, released)
			}
			return nil
		})
	}
	close(proceed)
	if err := <-other; err != nil {
		t.Fatal(err)
	}
	if flooded := otherAt.Load() - 1; flooded < 0 || flooded > limit+1 {
		t.Errorf("the other sender's request was handled after %d of the flood's", flooded)
	}
	wantSample(t, reg, `tsbank_request_errors_total{service="acct",endpoint="work",code="overloaded"}`, n-limit-waiting)
}

// TestARequestPastItsDeadlineIsDroppedUnanswered: a request whose deadline has passed by the time
// a handler is free is not handled and gets no reply (its sender has given up), and is counted
// as expired.
func TestARequestPastItsDeadlineIsDroppedUnanswered(t *testing.T) {
	t.Parallel()
	ns := runServer(t)
	nc := connect(t, ns)
	reg := prometheus.NewRegistry()
	in := service.Instrument(reg, "acct").Async(nc, 1)
	var handled atomic.Int64
	addService(t, nc, map[string]micro.Handler{"work": in.Handler("work", micro.HandlerFunc(func(req micro.Request) {
		handled.Add(1)
		_ = req.Respond([]byte("ok"))
	}))})
	m := &nats.Msg{Subject: "test.work", Header: nats.Header{contract.DeadlineHeader: []string{contract.FormatDeadline(time.Now().Add(-time.Millisecond))}}}
	if _, err := nc.RequestMsg(m, 300*time.Millisecond); !errors.Is(err, nats.ErrTimeout) {
		t.Fatalf("a request past its deadline: %v, want no reply", err)
	}
	m.Header.Set(contract.DeadlineHeader, contract.FormatDeadline(time.Now().Add(time.Minute)))
	if _, err := nc.RequestMsg(m, 5*time.Second); err != nil {
		t.Fatalf("a request within its deadline: %v", err)
	}
	if n := handled.Load(); n != 1 {
		t.Errorf("%d handled, want only the one within its deadline", n)
	}
	wantSample(t, reg, `tsbank_request_errors_total{service="acct",endpoint="work",code="expired"}`, 1)
}

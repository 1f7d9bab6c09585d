// Package ops is the operations HTTP server that every TSBank service runs
// beside its NATS endpoints: liveness on /healthz, readiness on /readyz and
// metrics on /metrics, and the metrics registry each service keeps.
//
// It is a separate listener from anything customer-facing so that probes
// and scrapes keep working when the service is saturated with business
// traffic, and so that it can be bound to an address only the platform
// reaches.
package ops

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// LatencyBuckets are histogram upper bounds in seconds, from half a millisecond to ten seconds.
// They are dense below 100ms, where a NATS request served from a warm database should land, and
// sparse above, where only the slow tail and timeouts live.
var LatencyBuckets = []float64{
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// NewRegistry returns a registry for one service, with the Go runtime's and the process's
// collectors (go_*, process_*) already in it. Each service has its own rather than the global
// default, so that the devstack and the tests, which run several services in one process, do not
// register the same metric twice.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Server serves the operations endpoints. Create it with NewServer, then
// Start it; Shutdown stops it.
type Server struct {
	addr  string
	ready func() error
	srv   *http.Server

	mu       sync.Mutex
	ln       net.Listener
	serveErr error
	done     chan struct{}
}

// NewServer returns a server that will listen on addr (":0" or
// "127.0.0.1:0" picks a free port; Addr tells which). reg is exposed on
// /metrics; a nil reg exposes an empty page. ready decides /readyz: the
// service is ready when it returns nil. A nil ready means always ready.
//
// ready is called on every probe, so it should be cheap and bound its own
// time, for example by checking state the service already keeps rather than
// pinging the database on each call.
func NewServer(addr string, reg prometheus.Gatherer, ready func() error) *Server {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if ready == nil {
		ready = func() error { return nil }
	}
	s := &Server{addr: addr, ready: ready}

	mux := http.NewServeMux()
	// "GET" patterns also answer HEAD, which some probes use.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		// Liveness says only that the process can serve HTTP. It must not
		// look at dependencies: a database outage should take the service
		// out of rotation (readiness), not get it restarted in a loop.
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.ready(); err != nil {
			writeText(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		writeText(w, http.StatusOK, "ok")
	})
	// A registry that fails to gather answers 500 rather than a partial page, which a scraper
	// would take for the whole truth.
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))

	s.srv = &http.Server{
		Handler: mux,
		// Bounded timeouts keep a stuck or slow client from holding a
		// connection, and so a goroutine, forever.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	return s
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body + "\n"))
}

// Start listens and serves in the background. It returns once the listener
// is open, so a bad address or a port in use is reported here, at startup,
// rather than lost in a goroutine. Start may be called only once.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return errors.New("ops: server already started")
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	s.ln = ln
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.mu.Lock()
			s.serveErr = err
			s.mu.Unlock()
		}
	}()
	return nil
}

// Addr returns the address the server listens on once started, with the
// real port when ":0" was asked for; before Start it returns the configured
// address.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return s.addr
	}
	return s.ln.Addr().String()
}

// Shutdown stops accepting connections and waits, until ctx ends, for
// requests in progress. It also returns the error that stopped serving
// early, if any, so that such a failure is not lost. Shutting down a server
// that was never started does nothing.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	started := s.ln != nil
	done := s.done
	s.mu.Unlock()
	if !started {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	// Serve returns as soon as Shutdown closes the listener, so this wait
	// is short; it makes serveErr safe to read.
	<-done
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(err, s.serveErr)
}

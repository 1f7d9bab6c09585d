// Package service instruments nats.go micro endpoints: it counts requests
// and error replies and times each request, and it can run handlers
// concurrently under a bound.
//
// The concurrency is here, rather than in each service, because micro
// delivers the messages of one endpoint one at a time on the subscription's
// goroutine: a handler that waits on the database holds up every other
// request to that endpoint. Async runs each request on its own goroutine and
// blocks the subscription only when the bound is reached, so a saturated
// service slows its intake instead of piling up goroutines.
package service

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"tsbank/platform/metrics"
)

// Instr records request metrics for the endpoints of one service.
type Instr struct {
	// Log receives a warning for each request dropped for its reply subject; it may be nil.
	Log      *slog.Logger
	service  string
	requests *metrics.CounterVec
	errors   *metrics.CounterVec
	duration *metrics.HistogramVec
	inFlight *metrics.GaugeVec
	// async is nil when handlers run on micro's own goroutine.
	async *async
}

// Instrument registers the request metrics in reg and returns an Instr that
// labels them with service. The metrics are:
//
//   - tsbank_requests_total{service,endpoint}: requests handled, counted
//     when the handler returns;
//   - tsbank_request_errors_total{service,endpoint,code}: requests answered
//     with a micro error, by its Nats-Service-Error-Code;
//   - tsbank_request_duration_seconds{service,endpoint}: time from receipt
//     to the handler's return, including any wait for a free slot;
//   - tsbank_requests_in_flight{service,endpoint}: requests received and not
//     yet finished, including those waiting for a slot.
//
// It registers fixed metric names, so it may be called once per registry;
// a second call panics like any duplicate registration.
func Instrument(reg *metrics.Registry, service string) *Instr {
	return &Instr{
		service: service,
		requests: reg.Counter("tsbank_requests_total",
			"Requests handled, counted when the handler returns.",
			"service", "endpoint"),
		errors: reg.Counter("tsbank_request_errors_total",
			"Requests answered with an error, by the Nats-Service-Error-Code of the reply.",
			"service", "endpoint", "code"),
		duration: reg.Histogram("tsbank_request_duration_seconds",
			"Time from receiving a request to its handler returning, including any wait for a free slot.",
			metrics.DefaultLatencyBuckets, "service", "endpoint"),
		inFlight: reg.Gauge("tsbank_requests_in_flight",
			"Requests received whose handler has not returned yet, including those waiting for a free slot.",
			"service", "endpoint"),
	}
}

// Async returns an Instr whose handlers each run on a new goroutine, at most
// limit at a time across all the handlers it wraps. When limit handlers are
// running, the subscription goroutine that delivers the next request waits
// for one to finish; messages then queue in the client up to the
// subscription's pending limits, which is the back-pressure.
//
// Replies are published on nc, which must be the connection the micro
// service uses. They cannot go through the micro.Request itself: micro reads
// that request's error state right after the handler returns, which would be
// a data race with a reply sent later from another goroutine. One
// consequence is that micro's own $SRV.STATS no longer see errors and time
// only the hand-off; the metrics of this package are the ones to use.
//
// Call Async once per pool: each call has its own limit, so a separate call
// per endpoint gives each endpoint its own bound. Stop the service with
// Shutdown.
func (i *Instr) Async(nc *nats.Conn, limit int) *Instr {
	if nc == nil {
		panic("service: Async needs the service's NATS connection")
	}
	if limit < 1 {
		panic(fmt.Sprintf("service: Async limit must be at least 1, got %d", limit))
	}
	a := *i
	a.async = &async{nc: nc, sem: make(chan struct{}, limit)}
	return &a
}

// Handler wraps h to record the metrics of endpoint. A request is counted
// when h returns, whether h replied, replied with an error, or never replied
// (for example because it forwarded the message).
func (i *Instr) Handler(endpoint string, h micro.Handler) micro.Handler {
	// Resolve the per-endpoint series once, so the hot path does no
	// label lookups except for the error code, which varies.
	ep := &endpointMetrics{
		instr:    i,
		name:     endpoint,
		requests: i.requests.With(i.service, endpoint),
		duration: i.duration.With(i.service, endpoint),
		inFlight: i.inFlight.With(i.service, endpoint),
	}
	a := i.async
	if a == nil {
		return micro.HandlerFunc(func(req micro.Request) {
			if !ep.replyAllowed(req) {
				return
			}
			start := time.Now()
			ep.inFlight.Inc()
			r := &request{Request: req}
			h.Handle(r)
			ep.done(start, r.code)
		})
	}
	return micro.HandlerFunc(func(req micro.Request) {
		if !ep.replyAllowed(req) {
			return
		}
		start := time.Now()
		ep.inFlight.Inc()
		r := &request{Request: req, nc: a.nc}
		if !a.begin() {
			// Shutting down: run on the subscription's goroutine, so
			// that draining the connection waits for this request.
			h.Handle(r)
			ep.done(start, r.code)
			return
		}
		a.sem <- struct{}{}
		go func() {
			defer a.end()
			h.Handle(r)
			ep.done(start, r.code)
		}()
	})
}

// Shutdown waits until every handler started by this Instr has returned, or
// until ctx ends. Requests delivered after Shutdown is called, by
// subscriptions that are still draining, run on the subscription's goroutine
// instead of a new one, so the connection's Drain waits for them. The order
// on SIGTERM is: stop the micro service, Shutdown, then drain the NATS
// connection, so that replies are sent before it closes. For an Instr
// without Async it returns at once.
func (i *Instr) Shutdown(ctx context.Context) error {
	a := i.async
	if a == nil {
		return nil
	}
	a.mu.Lock()
	a.closing = true
	a.mu.Unlock()

	done := make(chan struct{})
	go func() {
		a.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for %s handlers: %w", i.service, ctx.Err())
	}
}

// async is the state shared by the handlers of one Async call.
type async struct {
	nc  *nats.Conn
	sem chan struct{}

	// mu orders begin against Shutdown, so that no wg.Add can follow the
	// wg.Wait in Shutdown.
	mu      sync.Mutex
	closing bool
	wg      sync.WaitGroup
}

// begin reports whether a request may run on its own goroutine, and if so
// counts it as started.
func (a *async) begin() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closing {
		return false
	}
	a.wg.Add(1)
	return true
}

func (a *async) end() {
	<-a.sem
	a.wg.Done()
}

// ReplyAllowed tells whether a service may answer on reply. A service's NATS user may publish to
// the reply subject of any request it receives (allow_responses), whatever its deny list says,
// so a caller who chose the reply subject `$KV.tsbank_leases.account-2` would have the service
// write its answer into a lease. Only inboxes are answered: `_INBOX…` (a client's inbox, with or
// without its own prefix) and `_R_.…` (the reply subject NATS gives a request that came in
// through a service import, from the customers' account). No reply subject at all is allowed:
// nothing is sent then.
func ReplyAllowed(reply string) bool {
	return reply == "" || strings.HasPrefix(reply, "_INBOX") || strings.HasPrefix(reply, "_R_.")
}

// CodeForbiddenReply is the error code under which a request dropped for its reply subject is
// counted; no reply is sent for it.
const CodeForbiddenReply = "forbidden_reply"

// replyAllowed drops a request whose reply subject is not an inbox, counting and logging it.
func (ep *endpointMetrics) replyAllowed(req micro.Request) bool {
	if ReplyAllowed(req.Reply()) {
		return true
	}
	ep.requests.Inc()
	ep.instr.errors.With(ep.instr.service, ep.name, CodeForbiddenReply).Inc()
	if ep.instr.Log != nil {
		ep.instr.Log.Warn("dropped a request whose reply subject is not an inbox",
			"endpoint", ep.name, "subject", req.Subject(), "reply", req.Reply())
	}
	return false
}

type endpointMetrics struct {
	instr    *Instr
	name     string
	requests *metrics.Counter
	duration *metrics.Histogram
	inFlight *metrics.Gauge
}

// done records a finished request; code is the error code it was answered
// with, or empty.
func (ep *endpointMetrics) done(start time.Time, code string) {
	ep.duration.Observe(time.Since(start).Seconds())
	ep.requests.Inc()
	if code != "" {
		ep.instr.errors.With(ep.instr.service, ep.name, code).Inc()
	}
	ep.inFlight.Dec()
}

// request wraps a micro.Request to learn the error code the handler
// answered with. With nc set it also sends the replies itself (see Async).
type request struct {
	micro.Request
	nc   *nats.Conn
	code string
}

// Respond sends a reply. A reply given the error headers by hand through
// micro.WithHeaders is counted as an error too, because a client reads it as
// one.
func (r *request) Respond(data []byte, opts ...micro.RespondOpt) error {
	if r.nc == nil {
		if len(opts) > 0 {
			// Apply the options to a scratch message only to read the
			// headers they set; micro applies them again to the real one.
			m := &nats.Msg{}
			for _, opt := range opts {
				opt(m)
			}
			r.noteHeaders(m.Header)
		}
		return r.Request.Respond(data, opts...)
	}
	m := &nats.Msg{Data: data}
	for _, opt := range opts {
		opt(m)
	}
	r.noteHeaders(m.Header)
	if err := r.publish(m); err != nil {
		return fmt.Errorf("%w: %s", micro.ErrRespond, err)
	}
	return nil
}

// RespondJSON marshals v and sends it as the reply. It marshals here, as
// micro does, rather than calling the wrapped RespondJSON, so that the reply
// goes through Respond above and its headers are seen.
func (r *request) RespondJSON(v any, opts ...micro.RespondOpt) error {
	data, err := json.Marshal(v)
	if err != nil {
		return micro.ErrMarshalResponse
	}
	return r.Respond(data, opts...)
}

// Error sends an error reply with the code and description in the
// Nats-Service-Error-Code and Nats-Service-Error headers, as micro does, and
// records the code. A call micro would reject (empty code or description)
// records nothing, because nothing is sent.
func (r *request) Error(code, description string, data []byte, opts ...micro.RespondOpt) error {
	if r.nc == nil {
		if code != "" && description != "" {
			r.code = code
		}
		return r.Request.Error(code, description, data, opts...)
	}
	if code == "" {
		return fmt.Errorf("%w: error code", micro.ErrArgRequired)
	}
	if description == "" {
		return fmt.Errorf("%w: description", micro.ErrArgRequired)
	}
	m := &nats.Msg{Header: nats.Header{
		micro.ErrorHeader:     []string{description},
		micro.ErrorCodeHeader: []string{code},
	}}
	for _, opt := range opts {
		opt(m)
	}
	m.Data = data
	r.noteHeaders(m.Header)
	return r.publish(m)
}

// noteHeaders records the error code a reply carries, if any.
func (r *request) noteHeaders(h nats.Header) {
	if code := h.Get(micro.ErrorCodeHeader); code != "" {
		r.code = code
	}
}

// publish sends m to the request's reply subject, as nats.Msg.RespondMsg
// does, on the service's connection.
func (r *request) publish(m *nats.Msg) error {
	reply := r.Reply()
	if reply == "" {
		return nats.ErrMsgNoReply
	}
	m.Subject = reply
	return r.nc.PublishMsg(m)
}

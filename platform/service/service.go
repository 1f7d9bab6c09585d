// Package service instruments nats.go micro endpoints: it counts requests
// and error replies and times each request, and it can run handlers
// concurrently under a bound, with a fair intake.
//
// The concurrency is here, rather than in each service, because micro
// delivers the messages of one endpoint one at a time on the subscription's
// goroutine: a handler that waits on the database holds up every other
// request to that endpoint. Async runs each request on a goroutine of its
// own, at most a bound at once, and queues the rest per sender, taking the
// senders in turn, so that one sender's flood cannot starve the others; a
// request whose deadline passed while it waited is dropped before it runs,
// and a sender with too many waiting is told it is overloaded (ADR 0028).
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
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"tsbank/contract"
	"tsbank/contract/natstrace"
	"tsbank/platform/ops"
)

// Instr records request metrics for the endpoints of one service.
type Instr struct {
	// Log receives a warning for each request dropped for its reply subject; it may be nil.
	Log *slog.Logger
	// Observe, if set, receives every finished request of an endpoint: how long it took from
	// receipt, and the error code and description it was answered with (empty on success). A
	// Server's Observe keeps the $SRV.STATS figures.
	Observe  func(endpoint string, took time.Duration, code, description string)
	service  string
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec
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
func Instrument(reg prometheus.Registerer, service string) *Instr {
	f := promauto.With(reg)
	return &Instr{
		service: service,
		requests: f.NewCounterVec(prometheus.CounterOpts{Name: "tsbank_requests_total",
			Help: "Requests handled, counted when the handler returns."},
			[]string{"service", "endpoint"}),
		errors: f.NewCounterVec(prometheus.CounterOpts{Name: "tsbank_request_errors_total",
			Help: "Requests answered with an error, by the Nats-Service-Error-Code of the reply."},
			[]string{"service", "endpoint", "code"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{Name: "tsbank_request_duration_seconds",
			Help:    "Time from receiving a request to its handler returning, including any wait for a free slot.",
			Buckets: ops.LatencyBuckets},
			[]string{"service", "endpoint"}),
		inFlight: f.NewGaugeVec(prometheus.GaugeOpts{Name: "tsbank_requests_in_flight",
			Help: "Requests received whose handler has not returned yet, including those waiting for a free slot."},
			[]string{"service", "endpoint"}),
	}
}

// Async returns an Instr whose handlers each run on a goroutine of their own,
// at most limit at a time across all the handlers it wraps. A request that
// finds limit running waits in its sender's queue (a sender is a connection:
// the reply subject's inbox, or for a request that came through a service
// import, which hides the connection, the subject and so the account); the
// senders' queues are served in turn. The subscription's goroutine never
// waits, so requests do not pile up unseen in the client's pending buffer:
//
//   - a request whose deadline (contract.DeadlineHeader, or
//     contract.DefaultDeadline from its receipt) has passed when it would
//     start is dropped unanswered, its sender having given up: code
//     "expired" in the metrics;
//   - a request whose sender has perSender waiting, or that finds maxQueued
//     waiting in all, is answered at once with contract.CodeOverloaded and a
//     retry hint, and nothing of it is done.
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
	a.async = &async{nc: nc, limit: limit, perSender: perSenderFactor * limit, maxQueued: queuedFactor * limit,
		queues: map[string]*senderQueue{}}
	return &a
}

// Bounds of the intake, in multiples of the concurrency limit. A sender may keep many requests
// waiting (one connection often carries many clients: a gateway, a benchmark), so the bound per
// sender is generous, and the bound in all keeps the memory of a flood small (a few MB).
const (
	perSenderFactor = 16
	queuedFactor    = 64
)

// RetryAfter is the hint an overloaded reply gives: about the time a busy service needs to make
// room.
const RetryAfter = 100 * time.Millisecond

// Handler wraps h to record the metrics of endpoint. A request is counted
// when h returns, whether h replied, replied with an error, or never replied
// (for example because it forwarded the message). Each request also gets a
// server span, a child of the trace context its headers carry, from receipt
// to the handler's return; Context gives the handler its context.
func (i *Instr) Handler(endpoint string, h micro.Handler) micro.Handler {
	// Resolve the per-endpoint series once, so the hot path does no
	// label lookups except for the error code, which varies.
	ep := &endpointMetrics{
		instr:    i,
		name:     endpoint,
		requests: i.requests.WithLabelValues(i.service, endpoint),
		duration: i.duration.WithLabelValues(i.service, endpoint),
		inFlight: i.inFlight.WithLabelValues(i.service, endpoint),
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
			r.ctx, r.span = ep.span(req, start)
			h.Handle(r)
			ep.done(start, r)
		})
	}
	return micro.HandlerFunc(func(req micro.Request) {
		if !ep.replyAllowed(req) {
			return
		}
		start := time.Now()
		ep.inFlight.Inc()
		r := &request{Request: req, nc: a.nc, deadline: deadline(req, start)}
		r.ctx, r.span = ep.span(req, start)
		run := func() {
			if time.Now().After(r.deadline) {
				// Its sender has given up: nothing is done, nothing is sent.
				r.code, r.description = CodeExpired, "dropped unanswered: its deadline had passed before it could start"
			} else {
				h.Handle(r)
			}
			ep.done(start, r)
		}
		switch a.admit(sender(req), run) {
		case admitted:
		case inline:
			// Shutting down: run on the subscription's goroutine, so
			// that draining the connection waits for this request.
			run()
		case overloaded:
			_ = r.Error(contract.CodeOverloaded, fmt.Sprintf("too many requests of this sender are waiting; nothing was done: send it again, with its id, in %v", RetryAfter),
				nil, micro.WithHeaders(micro.Headers{contract.RetryAfterHeader: []string{RetryAfter.String()}}))
			ep.done(start, r)
		}
	})
}

// CodeExpired is the code under which a request dropped for its deadline is counted; no reply is
// sent for it.
const CodeExpired = "expired"

// deadline is the request's deadline: its header's, or contract.DefaultDeadline from receipt.
func deadline(req micro.Request, received time.Time) time.Time {
	if v := req.Headers().Get(contract.DeadlineHeader); v != "" {
		if t, err := contract.ParseDeadline(v); err == nil {
			return t
		}
	}
	return received.Add(contract.DefaultDeadline)
}

// sender names the sender of req, whose requests queue together: the connection, from its reply
// inbox (`_INBOX….<connection>.<request>` without the last token); for a reply subject that the
// server made for a service import (`_R_.…`, one per request, whatever the connection), the
// subject, which names the account.
func sender(req micro.Request) string {
	reply := req.Reply()
	if strings.HasPrefix(reply, "_INBOX") {
		if i := strings.LastIndexByte(reply, '.'); i > 0 {
			return reply[:i]
		}
		return reply
	}
	return req.Subject()
}

// Context is a context for the work of req: it ends after timeout, or at the request's deadline
// if that comes first, so that work still queued inside the service (a batch being filled) is
// not done for a sender who has given up. It carries the request's span, so that the spans and
// the log lines of the work name its trace.
func Context(req micro.Request, timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(Traced(req), timeout)
	if r, ok := req.(*request); ok && !r.deadline.IsZero() {
		dctx, dcancel := context.WithDeadline(ctx, r.deadline)
		return dctx, func() { dcancel(); cancel() }
	}
	return ctx, cancel
}

// Traced is a context with no deadline that carries req's span (for a handler whose work must
// outlive its sender's deadline: a transfer is decided even if its client gave up).
func Traced(req micro.Request) context.Context {
	if r, ok := req.(*request); ok && r.ctx != nil {
		return r.ctx
	}
	return context.Background()
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

// async is the state shared by the handlers of one Async call: the running handlers and the
// senders' queues.
type async struct {
	nc                          *nats.Conn
	limit, perSender, maxQueued int

	mu      sync.Mutex
	running int
	queued  int
	queues  map[string]*senderQueue
	turn    []*senderQueue // senders with requests waiting, in the order they are served
	closing bool           // ordered by mu against begin, so that no wg.Add follows Shutdown's wg.Wait
	wg      sync.WaitGroup
}

// senderQueue is one sender's waiting requests.
type senderQueue struct {
	key  string
	runs []func()
}

type admission int

const (
	admitted   admission = iota // it runs, now or in its turn
	inline                      // the Instr is shutting down: the caller runs it
	overloaded                  // refused: its sender has too many waiting, or all senders have
)

// admit starts run on a goroutine of its own if fewer than limit are running, and otherwise
// queues it in sender's turn.
func (a *async) admit(sender string, run func()) admission {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.closing:
		return inline
	case a.running < a.limit:
		a.running++
		a.wg.Add(1)
		go a.work(run)
		return admitted
	case a.queued >= a.maxQueued:
		return overloaded
	}
	q := a.queues[sender]
	if q == nil {
		q = &senderQueue{key: sender}
		a.queues[sender] = q
		a.turn = append(a.turn, q)
	} else if len(q.runs) >= a.perSender {
		return overloaded
	}
	q.runs = append(q.runs, run)
	a.queued++
	return admitted
}

// work runs run, then the next waiting request, sender by sender, until none waits.
func (a *async) work(run func()) {
	defer a.wg.Done()
	for run != nil {
		run()
		run = a.next()
	}
}

// next takes the first waiting request of the sender whose turn it is, or, if none waits, gives
// up the running slot and returns nil.
func (a *async) next() func() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.turn) == 0 {
		a.running--
		return nil
	}
	q := a.turn[0]
	run := q.runs[0]
	q.runs[0] = nil
	q.runs = q.runs[1:]
	a.queued--
	a.turn = a.turn[1:]
	if len(q.runs) > 0 {
		a.turn = append(a.turn, q) // to the back of the line
	} else {
		delete(a.queues, q.key)
	}
	return run
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
	ep.instr.errors.WithLabelValues(ep.instr.service, ep.name, CodeForbiddenReply).Inc()
	if ep.instr.Log != nil {
		ep.instr.Log.Warn("dropped a request whose reply subject is not an inbox",
			"endpoint", ep.name, "subject", req.Subject(), "reply", req.Reply())
	}
	return false
}

type endpointMetrics struct {
	instr    *Instr
	name     string
	requests prometheus.Counter
	duration prometheus.Observer
	inFlight prometheus.Gauge
}

// span starts the server span of req, received at start, as a child of the span its headers
// name (the caller's).
func (ep *endpointMetrics) span(req micro.Request, start time.Time) (context.Context, trace.Span) {
	ctx := natstrace.Extract(context.Background(), nats.Header(req.Headers()))
	return natstrace.Start(ctx, ep.instr.service+" "+ep.name, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithTimestamp(start))
}

// done records a finished request r, with the error code it was answered
// with, if any, and ends its span.
func (ep *endpointMetrics) done(start time.Time, r *request) {
	if r.code != "" {
		r.span.SetStatus(codes.Error, r.code+": "+r.description)
	}
	r.span.End()
	took := time.Since(start)
	ep.duration.Observe(took.Seconds())
	ep.requests.Inc()
	if r.code != "" {
		ep.instr.errors.WithLabelValues(ep.instr.service, ep.name, r.code).Inc()
	}
	ep.inFlight.Dec()
	if ep.instr.Observe != nil {
		ep.instr.Observe(ep.name, took, r.code, r.description)
	}
}

// request wraps a micro.Request to learn the error code the handler
// answered with. With nc set it also sends the replies itself (see Async).
type request struct {
	micro.Request
	nc          *nats.Conn
	ctx         context.Context // carries span
	span        trace.Span
	code        string
	description string    // of the error reply, with code
	deadline    time.Time // set by Async: after it, the sender no longer waits
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
			r.code, r.description = code, description
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

// noteHeaders records the error code and description a reply carries, if any.
func (r *request) noteHeaders(h nats.Header) {
	if code := h.Get(micro.ErrorCodeHeader); code != "" {
		r.code, r.description = code, h.Get(micro.ErrorHeader)
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

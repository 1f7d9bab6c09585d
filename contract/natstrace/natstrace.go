// Package natstrace carries OpenTelemetry trace context in NATS message headers (W3C
// traceparent and tracestate, as the process's propagator writes them), so that one transfer's
// spans in the client, the coordinator, the nodes and the history join one trace
// (docs/adr/0039). It lives in contract, not platform, because the typed client injects with it
// and contract imports nothing of the bank's.
//
// It uses the process's global TracerProvider and propagator, which platform/tracing sets up.
// With tracing off they are OpenTelemetry's no-ops: a span costs an allocation or two, and a
// trace context received is passed on unchanged.
package natstrace

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TracerName names the bank's instrumentation in every span.
const TracerName = "tsbank"

// The attributes that say which transfers a span is about.
const (
	// TransferID is the coordinator's id of the transfer (or payment) a span is about.
	TransferID = attribute.Key("tsbank.transfer_id")
	// TransferIDs lists them on a span about several at once: a batch of legs.
	TransferIDs = attribute.Key("tsbank.transfer_ids")
)

// Start starts a span with the global TracerProvider. The provider is looked up at each call,
// not once, so that a test that installs its own records spans of services started before.
func Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	return tracer().Start(ctx, name, opts...)
}

// End ends span, marked as failed with err if err is not nil.
func End(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// cached is the tracer of one provider.
type cached struct {
	tp trace.TracerProvider
	t  trace.Tracer
}

var last atomic.Pointer[cached]

// tracer is the global provider's tracer, kept while the provider stays the same: the SDK's
// Tracer takes a lock at each call, which every request of a busy service would contend for.
func tracer() trace.Tracer {
	tp := otel.GetTracerProvider()
	if c := last.Load(); c != nil && c.tp == tp {
		return c.t
	}
	t := tp.Tracer(TracerName)
	last.Store(&cached{tp: tp, t: t})
	return t
}

// Transfer returns the attributes of a span about transfer id: none for an empty id (an event
// of a deposit or a withdrawal).
func Transfer(id string) []attribute.KeyValue {
	if id == "" {
		return nil
	}
	return []attribute.KeyValue{TransferID.String(id)}
}

// Inject writes ctx's trace context into h, which must not be nil.
func Inject(ctx context.Context, h nats.Header) {
	otel.GetTextMapPropagator().Inject(ctx, Header(h))
}

// Extract returns ctx with the remote span context that h carries, if any.
func Extract(ctx context.Context, h nats.Header) context.Context {
	if len(h) == 0 {
		return ctx
	}
	return otel.GetTextMapPropagator().Extract(ctx, Header(h))
}

// InjectMap returns ctx's trace context as a map, for a message body that carries many
// transfers' contexts (a batch of legs) or a row that keeps one (the outbox); nil if ctx has
// none.
func InjectMap(ctx context.Context) map[string]string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	m := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, m)
	return m
}

// ExtractMap returns ctx with the remote span context m carries, if any.
func ExtractMap(ctx context.Context, m map[string]string) context.Context {
	if len(m) == 0 {
		return ctx
	}
	return otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(m))
}

// Header adapts nats.Header to OpenTelemetry's TextMapCarrier. The propagator writes lower-case
// keys (traceparent); nats.Header keeps keys as written, and a client in another language or
// the nats CLI may write Traceparent, so Get falls back to a case-insensitive look-up.
type Header nats.Header

// Get returns the first value of key.
func (h Header) Get(key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	for k, v := range h {
		if len(v) > 0 && strings.EqualFold(k, key) {
			return v[0]
		}
	}
	return ""
}

// Set replaces the values of key.
func (h Header) Set(key, value string) { h[key] = []string{value} }

// Keys lists the keys present.
func (h Header) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}

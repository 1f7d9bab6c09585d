package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"tsbank/contract/client"
	"tsbank/platform/service"
)

// TestARequestsHandlerSpanIsAChildOfTheCallersSpan: the typed client's span travels in the
// request's headers, and the handler's context carries a server span under it; a traceparent
// written with another case (the nats CLI, another language's client) is found too.
func TestARequestsHandlerSpanIsAChildOfTheCallersSpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })

	nc := connect(t, runServer(t))
	in := service.Instrument(prometheus.NewRegistry(), "test").Async(nc, 2)
	seen := make(chan trace.SpanContext, 2)
	addService(t, nc, map[string]micro.Handler{"echo": in.Handler("echo", micro.HandlerFunc(func(req micro.Request) {
		ctx, cancel := service.Context(req, time.Second)
		defer cancel()
		seen <- trace.SpanContextFromContext(ctx)
		_ = req.Respond([]byte(`{}`))
	}))})

	ctx, root := tp.Tracer("test").Start(context.Background(), "root")
	var reply struct{}
	if err := client.New(nc).Call(ctx, "test.echo", nil, &reply); err != nil {
		t.Fatal(err)
	}
	root.End()
	handler := <-seen
	var clientSpan, serverSpan sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		switch s.SpanKind() {
		case trace.SpanKindClient:
			clientSpan = s
		case trace.SpanKindServer:
			serverSpan = s
		}
	}
	if clientSpan == nil || serverSpan == nil {
		t.Fatalf("spans = %v; want a client and a server span", rec.Ended())
	}
	if clientSpan.Parent().SpanID() != root.SpanContext().SpanID() || serverSpan.Parent().SpanID() != clientSpan.SpanContext().SpanID() ||
		serverSpan.SpanContext().SpanID() != handler.SpanID() || handler.TraceID() != root.SpanContext().TraceID() {
		t.Fatalf("root %v, client %v (parent %v), server %v (parent %v), handler %v: want one chain",
			root.SpanContext().SpanID(), clientSpan.SpanContext().SpanID(), clientSpan.Parent().SpanID(),
			serverSpan.SpanContext().SpanID(), serverSpan.Parent().SpanID(), handler.SpanID())
	}

	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	m := &nats.Msg{Subject: "test.echo", Header: nats.Header{"Traceparent": []string{traceparent}}}
	if _, err := nc.RequestMsg(m, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := (<-seen).TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("trace of a request with Traceparent = %s; want the header's", got)
	}
}

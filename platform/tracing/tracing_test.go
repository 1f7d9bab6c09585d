package tracing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"tsbank/contract/natstrace"
	"tsbank/platform/tracing"
)

// TestALogLineWithASpanInItsContextNamesTheTrace pins what an operator greps for: a line logged
// with the *Context methods inside a span carries trace_id and span_id; one without a span
// carries neither.
func TestALogLineWithASpanInItsContextNamesTheTrace(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(tracing.LogHandler(slog.NewJSONHandler(&buf, nil)))
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(context.Background(), "transfer")
	log.WarnContext(ctx, "decision not acknowledged", "transfer_id", "t-1")
	span.End()
	log.Info("no span")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines = %q", lines)
	}
	var first, second map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	sc := span.SpanContext()
	if first["trace_id"] != sc.TraceID().String() || first["span_id"] != sc.SpanID().String() || first["transfer_id"] != "t-1" {
		t.Fatalf("line in a span = %v; want trace_id %s, span_id %s", first, sc.TraceID(), sc.SpanID())
	}
	if _, ok := second["trace_id"]; ok {
		t.Fatalf("line without a span = %v; want no trace_id", second)
	}
}

func TestTracingIsOffUnlessAnEndpointOrTheExporterIsNamed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    map[string]string
		export bool
		err    string
	}{
		{name: "nothing set", env: nil},
		{name: "an endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, export: true},
		{name: "a traces endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, export: true},
		{name: "otlp named", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, export: true},
		{name: "none over an endpoint", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}},
		{name: "the SDK disabled", env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}},
		{name: "an exporter not built in", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, err: "OTEL_TRACES_EXPORTER"},
		{name: "grpc", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, err: "http/protobuf"},
		{name: "a bad boolean", env: map[string]string{"OTEL_SDK_DISABLED": "maybe"}, err: "OTEL_SDK_DISABLED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tracing.ReadConfig(func(k string) string { return tc.env[k] })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v; want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil || c.Export != tc.export {
				t.Fatalf("config = %+v, %v; want export %v", c, err, tc.export)
			}
		})
	}
}

// TestSpansGoToTheConfiguredCollector: with an endpoint set, the spans of the process reach it
// over OTLP/HTTP by the time shutdown returns.
func TestSpansGoToTheConfiguredCollector(t *testing.T) {
	got := make(chan string, 10)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Method + " " + r.URL.Path
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	c, err := tracing.ReadConfig(os.Getenv)
	if err != nil || !c.Export {
		t.Fatalf("config = %+v, %v", c, err)
	}
	shutdown, err := tracing.Setup(context.Background(), "test", c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
	_, span := natstrace.Start(context.Background(), "transfer")
	span.End()
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case req := <-got:
		if req != "POST /v1/traces" {
			t.Fatalf("the collector got %s; want POST /v1/traces", req)
		}
	default:
		t.Fatal("the collector got nothing")
	}
}

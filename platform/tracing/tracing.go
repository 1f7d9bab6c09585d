// Package tracing sets up a service's OpenTelemetry tracing from the standard OTEL_ variables,
// and adds the trace to its log lines. Tracing is off unless an OTLP endpoint is configured: the
// process then has OpenTelemetry's no-op provider, and a span costs next to nothing
// (docs/adr/0039). Either way the W3C trace-context propagator is installed, so that a service
// with tracing off still passes on the trace context it receives.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Config says whether and where spans are exported.
type Config struct {
	// Export is true when spans go to an OTLP collector over HTTP.
	Export bool
	// Endpoint is the collector's address as configured (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
	// OTEL_EXPORTER_OTLP_ENDPOINT), for the start-up log line; empty means the exporter's
	// default, http://localhost:4318.
	Endpoint string
}

// ReadConfig reads the standard variables as far as this service supports them:
//
//   - OTEL_SDK_DISABLED=true turns tracing off, whatever else is set;
//   - OTEL_TRACES_EXPORTER is otlp or none; unset, it is otlp when an endpoint is set and none
//     otherwise (the specification's default is otlp: a bank that silently sends to
//     localhost:4318 when nobody asked would be a surprise);
//   - OTEL_EXPORTER_OTLP_PROTOCOL (or _TRACES_PROTOCOL) must be http/protobuf if set: only the
//     HTTP exporter is built in.
//
// The exporter itself reads the endpoint, headers, timeout and TLS variables, the SDK reads
// OTEL_TRACES_SAMPLER and OTEL_BSP_*, and the resource OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES.
func ReadConfig(getenv func(string) string) (Config, error) {
	c := Config{Endpoint: getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")}
	if c.Endpoint == "" {
		c.Endpoint = getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if v := getenv("OTEL_SDK_DISABLED"); v != "" {
		disabled, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("OTEL_SDK_DISABLED=%q: use true or false", v)
		}
		if disabled {
			return Config{}, nil
		}
	}
	switch e := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); e {
	case "":
		c.Export = c.Endpoint != ""
	case "otlp":
		c.Export = true
	case "none":
	default:
		return Config{}, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: this service exports otlp (over HTTP) or none", e)
	}
	if !c.Export {
		return Config{}, nil
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := getenv(name); p != "" && p != "http/protobuf" {
			return Config{}, fmt.Errorf("%s=%q: only http/protobuf is supported", name, p)
		}
	}
	return c, nil
}

// LogAttrs are the settings for a start-up log line.
func (c Config) LogAttrs() []slog.Attr {
	if !c.Export {
		return []slog.Attr{slog.String("traces", "off")}
	}
	endpoint := c.Endpoint
	if endpoint == "" {
		endpoint = "http://localhost:4318 (the default)"
	}
	return []slog.Attr{slog.String("traces", "otlp"), slog.String("otlp_endpoint", endpoint)}
}

// Setup installs the propagator and, if c exports, an SDK tracer provider that batches spans of
// service to the OTLP collector; otherwise the no-op provider. The returned function flushes the
// spans not yet sent and stops the exporter: call it before the process exits.
func Setup(ctx context.Context, service string, c Config) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	if !c.Export {
		// Installed rather than left to the global default, whose provider takes a lock at every
		// tracer look-up while it waits for a delegate that never comes.
		otel.SetTracerProvider(noop.NewTracerProvider())
		return func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, read by WithFromEnv, override the name.
	res, err := resource.New(ctx, resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// LogHandler wraps h so that a record logged with a context that carries a span (the *Context
// methods of slog.Logger) gets the span's trace_id and span_id: an operator can go from a log
// line to its trace, and find every line of one request by its trace id.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ next slog.Handler }

func (h logHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.next.Handle(ctx, r)
}

func (h logHandler) WithAttrs(as []slog.Attr) slog.Handler { return logHandler{h.next.WithAttrs(as)} }
func (h logHandler) WithGroup(name string) slog.Handler    { return logHandler{h.next.WithGroup(name)} }

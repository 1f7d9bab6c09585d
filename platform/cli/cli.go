// Package cli is the command line every TSBank service shares: `<service>` or `<service> serve`
// runs it until SIGINT or SIGTERM, `<service> migrate` applies its database's migrations to
// DATABASE_URL, and `<service> healthcheck [/healthz]` asks the running service's /readyz (or
// the path given) for a container health check, in an image that has no shell or curl. Logs are
// JSON on stderr, from LOG_LEVEL up; traces go out when OTEL_ variables say so (platform/tracing);
// any failure exits 1.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"tsbank/platform/logthrottle"
	"tsbank/platform/tracing"
)

// Migrate applies a service's migrations to the database at url (migrations.Migrator); nil for
// a service that has no database. cli takes it as a function so that platform does not depend
// on the migration files of every service.
type Migrate func(url string) error

// Main runs the command for service, whose database migrate brings up to date; serve reads the
// configuration and runs the service until ctx ends.
func Main(service string, migrate Migrate, serve func(ctx context.Context, log *slog.Logger) error) {
	level, err := ParseLevel(os.Getenv("LOG_LEVEL"))
	log := NewLogger(os.Stderr, level)
	if err != nil {
		log.Error(service, "err", err)
		os.Exit(1)
	}
	if err := run(os.Args[1:], service, migrate, serve, log); err != nil {
		log.Error(service, "err", err)
		os.Exit(1)
	}
}

// NewLogger returns the services' logger: JSON lines on w from level up, each line logged with
// a context that has a span carrying its trace_id and span_id, and a warning or error repeated
// in a burst (every request failing while the database is away) written once a second, with the
// count of the others.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	return slog.New(logthrottle.New(tracing.LogHandler(h), time.Second))
}

// ParseLevel reads LOG_LEVEL: debug, info (the default, for an empty value), warn or error, in
// any case.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return slog.LevelInfo, fmt.Errorf("LOG_LEVEL=%q: use debug, info, warn or error", s)
}

func run(args []string, service string, migrate Migrate, serve func(context.Context, *slog.Logger) error, log *slog.Logger) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "migrate":
		if migrate == nil {
			return fmt.Errorf("%s has no database to migrate", service)
		}
		url := os.Getenv("DATABASE_URL")
		if url == "" {
			return fmt.Errorf("DATABASE_URL is not set: it must name the %s database", service)
		}
		if err := migrate(url); err != nil {
			return err
		}
		log.Info("database migrated", "service", service)
		return nil
	case "healthcheck":
		// /readyz by default; a standby, alive but not serving, is checked with /healthz.
		path := "/readyz"
		if len(args) > 1 {
			path = args[1]
		}
		return Healthcheck(os.Getenv("HTTP_ADDR"), path)
	case "serve":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		tc, err := tracing.ReadConfig(os.Getenv)
		if err != nil {
			return err
		}
		shutdown, err := tracing.Setup(ctx, service, tc)
		if err != nil {
			return err
		}
		defer func() {
			// The spans of the last seconds, still in the batch, are sent before the exit.
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := shutdown(fctx); err != nil {
				log.Warn("flush traces", "err", err)
			}
		}()
		log.LogAttrs(ctx, slog.LevelInfo, "tracing", tc.LogAttrs()...)
		return serve(ctx, log)
	}
	return fmt.Errorf("unknown command %q: use serve (the default), migrate or healthcheck", cmd)
}

// Healthcheck GETs path on the operations server at addr (HTTP_ADDR, default :8080) on this
// host, and fails unless it answers 200.
func Healthcheck(addr, path string) error {
	if addr == "" {
		addr = ":8080"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR %q: %w", addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + net.JoinHostPort(host, port) + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", path, resp.Status, body)
	}
	return nil
}

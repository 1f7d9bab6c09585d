// Package server wires the history service together: its Postgres database, the events stream
// consumer, the micro service and the operations HTTP server. main and the local stack both call
// Start.
package server

import (
	"crypto/rand"
	"log/slog"
	"net/url"
	"time"

	"tsbank/platform/env"
)

// Version of the history service, shown by `nats micro ls`.
const Version = "0.1.0"

// Config of a history instance; see the README for each variable.
type Config struct {
	DatabaseURL    string        // DATABASE_URL, required: the history database
	NATSURL        string        // NATS_URL, default nats://127.0.0.1:4222
	NATSUser       string        // NATS_USER
	NATSPassword   string        // NATS_PASSWORD
	HTTPAddr       string        // HTTP_ADDR, default :8080
	IngestBatch    int           // INGEST_BATCH, default 500: events per fetch and per insert
	RequestTimeout time.Duration // REQUEST_TIMEOUT, default 10s
	MaxInFlight    int           // MAX_IN_FLIGHT, default 64
	DBMaxConns     int           // DATABASE_MAX_CONNS, default 20
	Replicas       int           // JS_REPLICAS, default 1: of the events stream, if this service creates it
	// CursorSecret signs page cursors (CURSOR_SECRET). Unset, a random one is drawn at start, so
	// cursors end with the process; instances behind one subject must share one.
	CursorSecret []byte
}

// ConfigFromEnv reads the configuration through getenv and reports every bad variable at once.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	r := env.New(getenv)
	c := Config{
		DatabaseURL:    r.Required("DATABASE_URL", "the history's Postgres database, e.g. postgres://tsbank@localhost/tsbank_history"),
		NATSURL:        r.String("NATS_URL", "nats://127.0.0.1:4222"),
		NATSUser:       r.String("NATS_USER", ""),
		NATSPassword:   r.String("NATS_PASSWORD", ""),
		HTTPAddr:       r.String("HTTP_ADDR", ":8080"),
		IngestBatch:    r.Int("INGEST_BATCH", 500, 1, 10000),
		RequestTimeout: r.Duration("REQUEST_TIMEOUT", 10*time.Second),
		MaxInFlight:    r.Int("MAX_IN_FLIGHT", 64, 1, 4096),
		DBMaxConns:     r.Int("DATABASE_MAX_CONNS", 20, 1, 1000),
		Replicas:       r.Int("JS_REPLICAS", 1, 1, 5),
		CursorSecret:   []byte(r.String("CURSOR_SECRET", "")),
	}
	if len(c.CursorSecret) == 0 {
		c.CursorSecret = make([]byte, 32)
		_, _ = rand.Read(c.CursorSecret)
	}
	if c.DatabaseURL != "" {
		if _, err := url.Parse(c.DatabaseURL); err != nil {
			r.Check(err)
		}
	}
	return c, r.Err()
}

// LogValue logs the configuration with its secrets masked.
func (c Config) LogValue() slog.Value {
	db := c.DatabaseURL
	if u, err := url.Parse(db); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			db = u.String()
		}
	}
	mask := func(s string) string {
		if s == "" {
			return ""
		}
		return "xxxxx"
	}
	return slog.GroupValue(
		slog.String("database_url", db), slog.String("nats_url", c.NATSURL), slog.String("nats_user", c.NATSUser),
		slog.String("nats_password", mask(c.NATSPassword)), slog.String("http_addr", c.HTTPAddr),
		slog.Int("ingest_batch", c.IngestBatch), slog.Duration("request_timeout", c.RequestTimeout),
		slog.Int("max_in_flight", c.MaxInFlight), slog.Int("database_max_conns", c.DBMaxConns),
		slog.Int("js_replicas", c.Replicas), slog.String("cursor_secret", mask(string(c.CursorSecret))),
	)
}

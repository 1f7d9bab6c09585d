// Package server wires the history service together: its Postgres database, the events stream
// consumer, the micro service and the operations HTTP server. main and the local stack both call
// Start.
package server

import (
	"crypto/rand"
	"log/slog"
	"time"

	"tsbank/platform/env"
	"tsbank/platform/lifecycle"
)

// Version of the history service, shown by `nats micro ls`.
const Version = "0.1.0"

// Config of a history instance; see the README for each variable.
type Config struct {
	lifecycle.Config               // DATABASE_URL (the history), NATS_*, HTTP_ADDR, MAX_IN_FLIGHT (64), DATABASE_MAX_CONNS
	IngestBatch      int           // INGEST_BATCH, default 500: events per fetch and per insert
	RequestTimeout   time.Duration // REQUEST_TIMEOUT, default 10s
	AccountsSync     time.Duration // ACCOUNTS_SYNC, default 1m: how often the nodes' accounts are copied into the accounts table
	// CursorSecret signs page cursors (CURSOR_SECRET). Unset, a random one is drawn at start, so
	// cursors end with the process; instances behind one subject must share one.
	CursorSecret []byte
}

// ConfigFromEnv reads the configuration through getenv and reports every bad variable at once.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	r := env.New(getenv)
	c := Config{
		Config:         lifecycle.ReadConfig(r, "the history's Postgres database, e.g. postgres://tsbank@localhost/tsbank_history", 64),
		IngestBatch:    r.Int("INGEST_BATCH", 500, 1, 10000),
		RequestTimeout: r.Duration("REQUEST_TIMEOUT", 10*time.Second),
		AccountsSync:   r.Duration("ACCOUNTS_SYNC", time.Minute),
		CursorSecret:   []byte(r.Secret("CURSOR_SECRET", "")),
	}
	if len(c.CursorSecret) == 0 {
		c.CursorSecret = make([]byte, 32)
		_, _ = rand.Read(c.CursorSecret)
	}
	return c, r.Err()
}

// LogValue logs the configuration with its secrets masked.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(append(c.LogAttrs(),
		slog.Int("ingest_batch", c.IngestBatch), slog.Duration("request_timeout", c.RequestTimeout),
		slog.Duration("accounts_sync", c.AccountsSync),
		slog.String("cursor_secret", lifecycle.Mask(string(c.CursorSecret))))...)
}

// Package server wires the coordinator together: its Postgres log, NATS, the micro service, the
// recovery loop and the operations HTTP server. main and the local stack both call Start.
package server

import (
	"log/slog"
	"net/url"
	"time"

	"tsbank/platform/env"
)

// Version of the coordinator, shown by `nats micro ls`.
const Version = "0.1.0"

// Config of a coordinator instance; see the README for each variable.
type Config struct {
	DatabaseURL     string        // DATABASE_URL, required: the coordinator's log database
	NATSURL         string        // NATS_URL, default nats://127.0.0.1:4222
	NATSUser        string        // NATS_USER
	NATSPassword    string        // NATS_PASSWORD
	HTTPAddr        string        // HTTP_ADDR, default :8080
	PrepareTimeout  time.Duration // PREPARE_TIMEOUT, default 2s: both votes must arrive within it
	SendTimeout     time.Duration // SEND_TIMEOUT, default 2s: one attempt to deliver a decision
	MaxBackoff      time.Duration // MAX_BACKOFF, default 30s: longest wait between re-sends
	RecoverInterval time.Duration // RECOVER_INTERVAL, default 1s: how often to look for stuck work
	RequestTimeout  time.Duration // REQUEST_TIMEOUT, default 10s: a client's transfer request
	MaxInFlight     int           // MAX_IN_FLIGHT, default 256: requests handled at once
	DBMaxConns      int           // DATABASE_MAX_CONNS, default 20
}

// ConfigFromEnv reads the configuration through getenv and reports every bad variable at once.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	r := env.New(getenv)
	c := Config{
		DatabaseURL:     r.Required("DATABASE_URL", "the coordinator's Postgres database, e.g. postgres://tsbank@localhost/tsbank_coordinator"),
		NATSURL:         r.String("NATS_URL", "nats://127.0.0.1:4222"),
		NATSUser:        r.String("NATS_USER", ""),
		NATSPassword:    r.String("NATS_PASSWORD", ""),
		HTTPAddr:        r.String("HTTP_ADDR", ":8080"),
		PrepareTimeout:  r.Duration("PREPARE_TIMEOUT", 2*time.Second),
		SendTimeout:     r.Duration("SEND_TIMEOUT", 2*time.Second),
		MaxBackoff:      r.Duration("MAX_BACKOFF", 30*time.Second),
		RecoverInterval: r.Duration("RECOVER_INTERVAL", time.Second),
		RequestTimeout:  r.Duration("REQUEST_TIMEOUT", 10*time.Second),
		MaxInFlight:     r.Int("MAX_IN_FLIGHT", 256, 1, 4096),
		DBMaxConns:      r.Int("DATABASE_MAX_CONNS", 20, 1, 1000),
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
	pw := ""
	if c.NATSPassword != "" {
		pw = "xxxxx"
	}
	return slog.GroupValue(
		slog.String("database_url", db), slog.String("nats_url", c.NATSURL), slog.String("nats_user", c.NATSUser),
		slog.String("nats_password", pw), slog.String("http_addr", c.HTTPAddr),
		slog.Duration("prepare_timeout", c.PrepareTimeout), slog.Duration("send_timeout", c.SendTimeout),
		slog.Duration("max_backoff", c.MaxBackoff), slog.Duration("recover_interval", c.RecoverInterval),
		slog.Duration("request_timeout", c.RequestTimeout), slog.Int("max_in_flight", c.MaxInFlight),
		slog.Int("database_max_conns", c.DBMaxConns),
	)
}

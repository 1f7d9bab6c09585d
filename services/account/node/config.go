// Package node wires one account node together: Postgres, NATS, the registry, the outbox relay,
// the micro service and the operations HTTP server. main and the local stack both call Start.
package node

import (
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"tsbank/contract"
	"tsbank/platform/env"
)

// Version of the account service, shown by `nats micro ls`.
const Version = "0.1.0"

// Config of an account node. Every field comes from an environment variable, documented in the
// README; ConfigFromEnv gives the defaults.
type Config struct {
	Node           string        // ACCOUNT_NODE, required: this node's name, e.g. account-1
	DatabaseURL    string        // DATABASE_URL, required: this node's own Postgres database
	NATSURL        string        // NATS_URL, default nats://127.0.0.1:4222
	NATSUser       string        // NATS_USER, optional
	NATSPassword   string        // NATS_PASSWORD, optional
	HTTPAddr       string        // HTTP_ADDR, default :8080: /healthz, /readyz, /metrics
	RequestTimeout time.Duration // REQUEST_TIMEOUT, default 5s: one request, forwarding included
	MaxInFlight    int           // MAX_IN_FLIGHT, default 64: requests handled at once per endpoint
	DBMaxConns     int           // DATABASE_MAX_CONNS, default 20
	Replicas       int           // JS_REPLICAS, default 1: replicas of the stream and buckets
	OutboxPoll     time.Duration // OUTBOX_POLL, default 1s: the relay's fallback poll
	HoldMaxAge     time.Duration // HOLD_MAX_AGE, default 30s: a prepared leg this old asks the coordinator
	HoldCheck      time.Duration // HOLD_CHECK_INTERVAL, default 5s: how often to look for such legs
}

// ConfigFromEnv reads the configuration through getenv and reports every bad variable at once.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	r := env.New(getenv)
	c := Config{
		Node:           r.Required("ACCOUNT_NODE", "this node, e.g. account-1"),
		DatabaseURL:    r.Required("DATABASE_URL", "the node's Postgres database, e.g. postgres://tsbank@localhost/account_1"),
		NATSURL:        r.String("NATS_URL", "nats://127.0.0.1:4222"),
		NATSUser:       r.String("NATS_USER", ""),
		NATSPassword:   r.String("NATS_PASSWORD", ""),
		HTTPAddr:       r.String("HTTP_ADDR", ":8080"),
		RequestTimeout: r.Duration("REQUEST_TIMEOUT", 5*time.Second),
		MaxInFlight:    r.Int("MAX_IN_FLIGHT", 64, 1, 4096),
		DBMaxConns:     r.Int("DATABASE_MAX_CONNS", 20, 1, 1000),
		Replicas:       r.Int("JS_REPLICAS", 1, 1, 5),
		OutboxPoll:     r.Duration("OUTBOX_POLL", time.Second),
		HoldMaxAge:     r.Duration("HOLD_MAX_AGE", 30*time.Second),
		HoldCheck:      r.Duration("HOLD_CHECK_INTERVAL", 5*time.Second),
	}
	if c.Node != "" {
		if e := contract.CheckID("ACCOUNT_NODE", c.Node); e != nil {
			r.Check(fmt.Errorf("%s", e.Message))
		}
	}
	if c.DatabaseURL != "" {
		if _, err := url.Parse(c.DatabaseURL); err != nil {
			r.Check(fmt.Errorf("DATABASE_URL is not a URL: %w", err))
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
		slog.String("node", c.Node), slog.String("database_url", db), slog.String("nats_url", c.NATSURL),
		slog.String("nats_user", c.NATSUser), slog.String("nats_password", pw), slog.String("http_addr", c.HTTPAddr),
		slog.Duration("request_timeout", c.RequestTimeout), slog.Int("max_in_flight", c.MaxInFlight),
		slog.Int("database_max_conns", c.DBMaxConns), slog.Int("js_replicas", c.Replicas),
		slog.Duration("outbox_poll", c.OutboxPoll), slog.Duration("hold_max_age", c.HoldMaxAge),
		slog.Duration("hold_check_interval", c.HoldCheck),
	)
}

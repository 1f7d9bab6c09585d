// Package server wires one account node together: Postgres, NATS, the registry, the outbox relay,
// the micro service and the operations HTTP server. main and the local stack both call Start.
package server

import (
	"fmt"
	"log/slog"
	"time"

	"tsbank/contract"
	"tsbank/contract/decisionsig"
	"tsbank/platform/env"
	"tsbank/platform/lifecycle"
)

// Version of the account service, shown by `nats micro ls`.
const Version = "0.1.0"

// Config of an account node. Every field comes from an environment variable, documented in the
// README; ConfigFromEnv gives the defaults.
type Config struct {
	lifecycle.Config               // DATABASE_URL (this node's own database), NATS_*, HTTP_ADDR, MAX_IN_FLIGHT (64), DATABASE_MAX_CONNS
	Node             string        // ACCOUNT_NODE, required: this node's name, e.g. account-1
	RequestTimeout   time.Duration // REQUEST_TIMEOUT, default 5s: one request, forwarding included
	OutboxPoll       time.Duration // OUTBOX_POLL, default 1s: the relay's fallback poll
	HoldMaxAge       time.Duration // HOLD_MAX_AGE, default 30s: a prepared leg this old asks the coordinator
	HoldCheck        time.Duration // HOLD_CHECK_INTERVAL, default 5s: how often to look for such legs
	Retention        time.Duration // IDEMPOTENCY_RETENTION, default 720h (30 days): how long a request id is remembered
	PruneInterval    time.Duration // PRUNE_INTERVAL, default 1h: how often older idempotency records are deleted
	// COORDINATOR_PUBLIC_KEYS, required: the coordinator's public keys, comma-separated (two
	// during a key rotation); the node applies only prepares, decisions and answers they signed.
	Coordinators *decisionsig.Verifier
}

// ConfigFromEnv reads the configuration through getenv and reports every bad variable at once.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	r := env.New(getenv)
	c := Config{
		Node:           r.Required("ACCOUNT_NODE", "this node, e.g. account-1"),
		Config:         lifecycle.ReadConfig(r, "the node's Postgres database, e.g. postgres://tsbank@localhost/tsbank_account_1", 64),
		RequestTimeout: r.Duration("REQUEST_TIMEOUT", 5*time.Second),
		OutboxPoll:     r.Duration("OUTBOX_POLL", time.Second),
		HoldMaxAge:     r.Duration("HOLD_MAX_AGE", 30*time.Second),
		HoldCheck:      r.Duration("HOLD_CHECK_INTERVAL", 5*time.Second),
		Retention:      r.Duration("IDEMPOTENCY_RETENTION", 30*24*time.Hour),
		PruneInterval:  r.Duration("PRUNE_INTERVAL", time.Hour),
	}
	if keys := r.Required("COORDINATOR_PUBLIC_KEYS", "the coordinator's public signing keys, comma-separated, from `tsbankctl keygen`"); keys != "" {
		v, err := decisionsig.NewVerifier(keys)
		if err != nil {
			r.Check(fmt.Errorf("COORDINATOR_PUBLIC_KEYS: %w", err))
		}
		c.Coordinators = v
	}
	if c.Node != "" {
		if e := contract.CheckID("ACCOUNT_NODE", c.Node); e != nil {
			r.Check(fmt.Errorf("%s", e.Message))
		}
	}
	return c, r.Err()
}

// LogValue logs the configuration with its secrets masked.
func (c Config) LogValue() slog.Value {
	var keys string
	if c.Coordinators != nil {
		keys = c.Coordinators.String()
	}
	return slog.GroupValue(append(c.LogAttrs(), slog.String("coordinator_public_keys", keys),
		slog.String("node", c.Node), slog.Duration("request_timeout", c.RequestTimeout),
		slog.Duration("outbox_poll", c.OutboxPoll), slog.Duration("hold_max_age", c.HoldMaxAge),
		slog.Duration("hold_check_interval", c.HoldCheck),
		slog.Duration("idempotency_retention", c.Retention), slog.Duration("prune_interval", c.PruneInterval))...)
}

// Package server wires the coordinator together: its Postgres log, NATS, the micro service, the
// recovery loop and the operations HTTP server. main and the local stack both call Start.
package server

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nkeys"

	"tsbank/contract/decisionsig"
	"tsbank/platform/env"
	"tsbank/platform/lifecycle"
)

// Version of the coordinator, shown by `nats micro ls`.
const Version = "0.1.0"

// Config of a coordinator instance; see the README for each variable.
type Config struct {
	lifecycle.Config               // DATABASE_URL (the log), NATS_*, HTTP_ADDR, MAX_IN_FLIGHT (256), DATABASE_MAX_CONNS
	PrepareTimeout   time.Duration // PREPARE_TIMEOUT, default 2s: both votes must arrive within it
	SendTimeout      time.Duration // SEND_TIMEOUT, default 2s: one attempt to deliver a decision
	MaxBackoff       time.Duration // MAX_BACKOFF, default 30s: longest wait between re-sends
	RecoverInterval  time.Duration // RECOVER_INTERVAL, default 1s: how often to look for stuck work
	RequestTimeout   time.Duration // REQUEST_TIMEOUT, default 10s: a client's transfer request
	NodeBatches      int           // NODE_BATCHES, default 1: batches of legs each node may have unanswered
	MoveDrain        time.Duration // MOVE_DRAIN, default 10s: how long a moving account's legs in flight may take before the move is given up
	QuoteTTL         time.Duration // QUOTE_TTL, default 30s: how long a quote's rate holds
	SigningKey       nkeys.KeyPair // COORDINATOR_SIGNING_KEY, required: signs every prepare, commit, abort and decision answer
}

// ConfigFromEnv reads the configuration through getenv and reports every bad variable at once.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	r := env.New(getenv)
	c := Config{
		Config:          lifecycle.ReadConfig(r, "the coordinator's Postgres database, e.g. postgres://tsbank@localhost/tsbank_coordinator", 256),
		PrepareTimeout:  r.Duration("PREPARE_TIMEOUT", 2*time.Second),
		SendTimeout:     r.Duration("SEND_TIMEOUT", 2*time.Second),
		MaxBackoff:      r.Duration("MAX_BACKOFF", 30*time.Second),
		RecoverInterval: r.Duration("RECOVER_INTERVAL", time.Second),
		RequestTimeout:  r.Duration("REQUEST_TIMEOUT", 10*time.Second),
		NodeBatches:     r.Int("NODE_BATCHES", 1, 1, 64),
		MoveDrain:       r.Duration("MOVE_DRAIN", 10*time.Second),
		QuoteTTL:        r.Duration("QUOTE_TTL", 30*time.Second),
	}
	if seed := r.Required("COORDINATOR_SIGNING_KEY", "the coordinator's signing key, an nkey seed from `tsbankctl keygen`"); seed != "" {
		kp, err := decisionsig.ParseSeed(seed)
		if err != nil {
			r.Check(fmt.Errorf("COORDINATOR_SIGNING_KEY: %w", err))
		}
		c.SigningKey = kp
	}
	return c, r.Err()
}

// LogValue logs the configuration with its secrets masked: of the signing key, only its public
// half, which the nodes' COORDINATOR_PUBLIC_KEYS must list.
func (c Config) LogValue() slog.Value {
	var public string
	if c.SigningKey != nil {
		public, _ = c.SigningKey.PublicKey()
	}
	return slog.GroupValue(append(c.LogAttrs(), slog.String("signing_key_public", public),
		slog.Duration("prepare_timeout", c.PrepareTimeout), slog.Duration("send_timeout", c.SendTimeout),
		slog.Duration("max_backoff", c.MaxBackoff), slog.Duration("recover_interval", c.RecoverInterval),
		slog.Duration("request_timeout", c.RequestTimeout), slog.Int("node_batches", c.NodeBatches),
		slog.Duration("move_drain", c.MoveDrain), slog.Duration("quote_ttl", c.QuoteTTL))...)
}

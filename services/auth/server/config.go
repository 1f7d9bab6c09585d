// Package server wires the auth service together: its Postgres database, the auth callout it
// answers on a connection as the auth user (account AUTH), the customer directory it serves on a
// connection as a BANK user, and the operations HTTP server. main and the tests call Start.
package server

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nkeys"

	"tsbank/platform/env"
	"tsbank/platform/lifecycle"
)

// Version of the auth service, shown by `nats micro ls`.
const Version = "0.1.0"

// Config of an auth instance; see the README for each variable.
type Config struct {
	// DATABASE_URL (tsbank_auth), NATS_URL, NATS_USER / NATS_PASSWORD (the callout's user, in
	// account AUTH), HTTP_ADDR, MAX_IN_FLIGHT (32, directory requests), DATABASE_MAX_CONNS.
	lifecycle.Config
	BankUser     string // BANK_NATS_USER, default customers: the directory's user, in account BANK
	BankPassword string // BANK_NATS_PASSWORD
	// IssuerSeed (AUTH_ISSUER_SEED, required) is the account nkey seed whose public key nats.conf
	// names as the callout's issuer; it signs every customer's user JWT. Never logged.
	IssuerSeed       string
	CustomersAccount string        // CUSTOMERS_ACCOUNT, default CUSTOMERS: where customers are placed
	LoginTTL         time.Duration // LOGIN_TTL, default 24h: a customer's connection is closed after it, and logs in again
	PasswordCost     int           // PASSWORD_COST, default 11 (10 to 15): bcrypt cost of new hashes
	CalloutWorkers   int           // CALLOUT_WORKERS, default 8: logins checked at once
	RequestTimeout   time.Duration // REQUEST_TIMEOUT, default 5s
}

// ConfigFromEnv reads the configuration through getenv and reports every bad variable at once.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	r := env.New(getenv)
	c := Config{
		Config:           lifecycle.ReadConfig(r, "the auth service's Postgres database, e.g. postgres://tsbank@localhost/tsbank_auth", 32),
		BankUser:         r.String("BANK_NATS_USER", "customers"),
		BankPassword:     r.Secret("BANK_NATS_PASSWORD", ""),
		IssuerSeed:       r.Required("AUTH_ISSUER_SEED", `an account nkey seed ("SA…", made by tsbankctl keygen-account)`),
		CustomersAccount: r.String("CUSTOMERS_ACCOUNT", "CUSTOMERS"),
		LoginTTL:         r.Duration("LOGIN_TTL", 24*time.Hour),
		PasswordCost:     r.Int("PASSWORD_COST", 11, 10, 15),
		CalloutWorkers:   r.Int("CALLOUT_WORKERS", 8, 1, 256),
		RequestTimeout:   r.Duration("REQUEST_TIMEOUT", 5*time.Second),
	}
	if c.IssuerSeed != "" {
		if _, err := c.Issuer(); err != nil {
			r.Check(fmt.Errorf("AUTH_ISSUER_SEED: %w", err))
		}
	}
	return c, r.Err()
}

// Issuer returns the key pair of IssuerSeed, which must be an account seed: the server accepts a
// callout's answer only when signed by the account key it was configured with.
func (c Config) Issuer() (nkeys.KeyPair, error) {
	prefix, _, err := nkeys.DecodeSeed([]byte(c.IssuerSeed))
	if err != nil {
		return nil, errors.New("not an nkey seed")
	}
	if prefix != nkeys.PrefixByteAccount {
		return nil, errors.New(`not an account seed ("SA…"): make one with tsbankctl keygen-account`)
	}
	return nkeys.FromSeed([]byte(c.IssuerSeed))
}

// LogValue logs the configuration with its secrets masked; the issuer is logged by its public
// key, which nats.conf must name.
func (c Config) LogValue() slog.Value {
	issuer := ""
	if kp, err := c.Issuer(); err == nil {
		issuer, _ = kp.PublicKey()
	}
	return slog.GroupValue(append(c.LogAttrs(),
		slog.String("bank_nats_user", c.BankUser), slog.String("bank_nats_password", lifecycle.Mask(c.BankPassword)),
		slog.String("auth_issuer_public_key", issuer), slog.String("customers_account", c.CustomersAccount),
		slog.Duration("login_ttl", c.LoginTTL), slog.Int("password_cost", c.PasswordCost),
		slog.Int("callout_workers", c.CalloutWorkers), slog.Duration("request_timeout", c.RequestTimeout))...)
}

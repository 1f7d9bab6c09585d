package lifecycle

import (
	"fmt"
	"log/slog"
	"net/url"

	"tsbank/platform/env"
)

// Config is the part of a service's configuration every service has.
type Config struct {
	DatabaseURL  string // DATABASE_URL, required: the service's own database
	NATSURL      string // NATS_URL, default nats://127.0.0.1:4222
	NATSUser     string // NATS_USER, optional
	NATSPassword string // NATS_PASSWORD, optional
	HTTPAddr     string // HTTP_ADDR, default :8080: /healthz, /readyz, /metrics
	MaxInFlight  int    // MAX_IN_FLIGHT: requests handled at once
	DBMaxConns   int    // DATABASE_MAX_CONNS, default 20
}

// ReadConfigWithoutDatabase reads the common variables of a service that has no database of its
// own (the Observer).
func ReadConfigWithoutDatabase(r *env.Reader, maxInFlight int) Config {
	return Config{
		NATSURL:      r.String("NATS_URL", "nats://127.0.0.1:4222"),
		NATSUser:     r.String("NATS_USER", ""),
		NATSPassword: r.Secret("NATS_PASSWORD", ""),
		HTTPAddr:     r.String("HTTP_ADDR", ":8080"),
		MaxInFlight:  r.Int("MAX_IN_FLIGHT", maxInFlight, 1, 4096),
	}
}

// ReadConfig reads the common variables; database says what DATABASE_URL must name, for the
// error when it is missing, and maxInFlight is the service's default for MAX_IN_FLIGHT.
func ReadConfig(r *env.Reader, database string, maxInFlight int) Config {
	c := Config{
		DatabaseURL:  r.Required("DATABASE_URL", database),
		NATSURL:      r.String("NATS_URL", "nats://127.0.0.1:4222"),
		NATSUser:     r.String("NATS_USER", ""),
		NATSPassword: r.Secret("NATS_PASSWORD", ""),
		HTTPAddr:     r.String("HTTP_ADDR", ":8080"),
		MaxInFlight:  r.Int("MAX_IN_FLIGHT", maxInFlight, 1, 4096),
		DBMaxConns:   r.Int("DATABASE_MAX_CONNS", 20, 1, 1000),
	}
	if c.DatabaseURL != "" {
		if u, err := url.Parse(c.DatabaseURL); err != nil {
			r.Check(fmt.Errorf("DATABASE_URL is not a URL: %w", err))
		} else if pw, _ := u.User.Password(); env.IsExample(pw) {
			r.Check(fmt.Errorf("DATABASE_URL has the placeholder password from .env.example: generate real secrets with deploy/secrets.sh"))
		}
	}
	return c
}

// Mask hides a secret in logs, showing only whether it is set.
func Mask(s string) string {
	if s == "" {
		return ""
	}
	return "xxxxx"
}

// LogAttrs are the common settings for a start-up log line, with the secrets masked.
func (c Config) LogAttrs() []slog.Attr {
	db := c.DatabaseURL
	if u, err := url.Parse(db); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			db = u.String()
		}
	}
	return []slog.Attr{
		slog.String("database_url", db), slog.String("nats_url", c.NATSURL), slog.String("nats_user", c.NATSUser),
		slog.String("nats_password", Mask(c.NATSPassword)), slog.String("http_addr", c.HTTPAddr),
		slog.Int("max_in_flight", c.MaxInFlight), slog.Int("database_max_conns", c.DBMaxConns),
	}
}

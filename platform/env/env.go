// Package env reads a service's configuration from environment variables. Each reader records
// the first problem it meets, so that main can report every malformed variable in one message and
// exit non-zero instead of running half-configured.
package env

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Reader reads variables through a getenv function (os.Getenv in main, a map in tests).
type Reader struct {
	getenv func(string) string
	errs   []error
}

// New returns a reader over getenv.
func New(getenv func(string) string) *Reader { return &Reader{getenv: getenv} }

// String returns the variable, or def when it is unset or empty.
func (r *Reader) String(name, def string) string {
	if v := r.getenv(name); v != "" {
		return v
	}
	return def
}

// Required returns the variable and records an error when it is unset or empty.
func (r *Reader) Required(name, what string) string {
	v := r.getenv(name)
	if v == "" {
		r.errs = append(r.errs, fmt.Errorf("%s is not set: it must name %s", name, what))
	}
	return v
}

// Duration reads a Go duration such as "5s" or "250ms"; it must be positive.
func (r *Reader) Duration(name string, def time.Duration) time.Duration {
	v := r.getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.errs = append(r.errs, fmt.Errorf("%s=%q is not a positive duration such as \"5s\"", name, v))
		return def
	}
	return d
}

// Int reads a whole number in [min, max].
func (r *Reader) Int(name string, def, min, max int) int {
	v := r.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		r.errs = append(r.errs, fmt.Errorf("%s=%q is not a whole number from %d to %d", name, v, min, max))
		return def
	}
	return n
}

// Check records err, if not nil, as a configuration error.
func (r *Reader) Check(err error) {
	if err != nil {
		r.errs = append(r.errs, err)
	}
}

// Err returns every problem met so far, joined, or nil.
func (r *Reader) Err() error { return errors.Join(r.errs...) }

// ExamplePrefix starts every placeholder secret of .env.example. A secret that starts with it is
// the example's, known to anyone who read the repository, so no service starts with one.
const ExamplePrefix = "change-me"

// IsExample tells whether secret is a placeholder from .env.example.
func IsExample(secret string) bool { return strings.HasPrefix(secret, ExamplePrefix) }

// Secret reads a secret like String, and refuses the placeholders of .env.example.
func (r *Reader) Secret(name, def string) string {
	v := r.String(name, def)
	if IsExample(v) {
		r.Check(fmt.Errorf("%s is the placeholder from .env.example: generate real secrets with deploy/secrets.sh (tsbankctl secrets)", name))
	}
	return v
}

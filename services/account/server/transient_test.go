package server

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go"
)

// TestAStartFailingOnAPassingFaultIsTriedAgain: the faults a start may meet while a NATS server
// or Postgres restarts are tried again in process; anything else (a bad configuration, refused
// credentials) ends the process, which says why.
func TestAStartFailingOnAPassingFaultIsTriedAgain(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("nats flush: %w", nats.ErrConnectionClosed), true},
		{fmt.Errorf("heartbeat: %w", nats.ErrTimeout), true},
		{fmt.Errorf("postgres: %w", &pgconn.ConnectError{}), true},
		{errors.New("ACCOUNT_NODE is not set"), false},
		{fmt.Errorf("nats: %w", nats.ErrAuthorization), false},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

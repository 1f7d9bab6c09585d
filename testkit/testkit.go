// Package testkit starts the real components TSBank's tests run against: an embedded
// nats-server with JetStream, and a PostgreSQL server that hands every test a fresh, migrated
// database (a durable one for benchmarks, with pgbench beside it and the costs they report). It
// also has the small helpers those tests share: a poller that waits for an effect instead of
// sleeping, and a logger whose output is shown only when a test fails.
//
// Only tests import it. A package that uses Postgres should run its tests through Main, so that
// the throwaway clusters started for the test binary are stopped and removed at the end:
//
//	func TestMain(m *testing.M) { testkit.Main(m) }
package testkit

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// Main runs the tests of a package and then stops what testkit started for the whole test
// binary (the Postgres clusters, the tests' and the benchmarks', or the template and pgbench
// databases on a server named by TSBANK_TEST_POSTGRES_URL). Call it from TestMain; it does not
// return.
func Main(m *testing.M) {
	code := m.Run()
	// A failure here leaks a temp dir or a few template databases, not a wrong test result,
	// so it is reported but does not change the exit code.
	if err := stopShared(); err != nil {
		fmt.Fprintln(os.Stderr, "testkit:", err)
	}
	os.Exit(code)
}

// CheckFor calls f until it returns nil, sleeping between calls, and fails the test with f's
// last error if that has not happened within total. Tests use it to wait for an effect that
// happens asynchronously (a message consumed, a row written) without guessing a sleep.
// f is always called at least once, and once more at the deadline.
func CheckFor(t testing.TB, total, sleep time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %v: %v", total, err)
		}
		time.Sleep(min(sleep, max(time.Until(deadline), 0)))
	}
}

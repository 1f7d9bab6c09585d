package testkit

import "testing"

// SkipShort skips a test that needs a real PostgreSQL or nats-server under `go test -short`: the
// fast tier runs the rules and use cases against in-memory ports only, in seconds; the full suite
// (what CI runs) runs everything. Every helper here that starts a server calls it, so a test
// skips as soon as it asks for one.
func SkipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL or NATS: the fast tier (-short) skips it")
	}
}

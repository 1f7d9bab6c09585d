package testkit

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// StartNATS runs a nats-server with JetStream inside the test process, on a random port of
// 127.0.0.1 with its store in a temp dir, and shuts it down when the test ends. Each call is a
// new, empty server, so tests do not share streams or consumers.
func StartNATS(t testing.TB) *server.Server {
	t.Helper()
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      -1,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoLog:     true,
		// The test binary's signals belong to the Go test runner, not to the server.
		NoSigs: true,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("new nats-server: %v", err)
	}
	go s.Start()
	// Registered after t.TempDir, so it runs before the store dir is removed.
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready for connections after 10s")
	}
	return s
}

// Connect connects to s and closes the connection when the test ends.
func Connect(t testing.TB, s *server.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		t.Fatalf("connect to nats-server %s: %v", s.ClientURL(), err)
	}
	t.Cleanup(nc.Close)
	return nc
}

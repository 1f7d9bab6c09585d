package lease_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"tsbank/platform/lease"
	"tsbank/platform/natsconn"
	"tsbank/platform/provision"
)

// ttl is the time to live of the tests' leases, as deployed.
const ttl = 3 * time.Second

// natsServer is one nats-server with JetStream on a fixed port and store, so that the test can
// stop it and start it again as the same server, its streams and their messages kept.
type natsServer struct {
	t    *testing.T
	port int
	dir  string
	s    *server.Server
}

func startNATS(t *testing.T) *natsServer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ns := &natsServer{t: t, port: port, dir: t.TempDir()}
	ns.start()
	t.Cleanup(func() { ns.stop() })
	return ns
}

func (ns *natsServer) start() {
	ns.t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: ns.port, JetStream: true,
		StoreDir: ns.dir, NoLog: true, NoSigs: true})
	if err != nil {
		ns.t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		ns.t.Fatal("nats-server not ready after 10s")
	}
	ns.s = s
}

func (ns *natsServer) stop() {
	ns.s.Shutdown()
	ns.s.WaitForShutdown()
}

func (ns *natsServer) url() string { return "nats://127.0.0.1:" + strconv.Itoa(ns.port) }

// leases connects as a service does (platform/natsconn) and opens the leases bucket, made with
// the deployment's configuration and the time to live ttl.
func leases(t *testing.T, ns *natsServer, ttl time.Duration) jetstream.KeyValue {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := natsconn.Connect(ctx, ns.url(), "lease-test", "", "", quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.CreateKeyValue(ctx, provision.LeasesConfig(ttl, 1))
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// keep acquires key and keeps it in the background; the returned channel receives the reason
// when the lease is lost.
func keep(t *testing.T, kv jetstream.KeyValue, key string) (*lease.Lease, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	l, err := lease.Acquire(ctx, kv, key, "holder-1", quiet())
	if err != nil {
		t.Fatal(err)
	}
	lost := make(chan error, 1)
	go l.Keep(ctx, func(err error) { lost <- err })
	return l, lost
}

// revision is the key's current revision, read with a short deadline; 0 if it cannot be read.
func revision(kv jetstream.KeyValue, key string) uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	e, err := kv.Get(ctx, key)
	if err != nil {
		return 0
	}
	return e.Revision()
}

// TestALeaseRidesOverANATSOutageShorterThanItsTimeToLive: the NATS server goes away just after
// a renewal and comes back after 8.5 s, with the lease's time to live 12 s. The holder keeps
// trying to renew while the lease certainly lasts (until 10 s, a sixth of the time to live
// before the key can expire), and so keeps it, with the same epoch. Before, a holder gave up
// once two thirds of the time to live had passed without a renewal (8 s here, 2 s with the
// deployed 3 s), whatever was left of it.
func TestALeaseRidesOverANATSOutageShorterThanItsTimeToLive(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a nats-server: the fast tier (-short) skips it")
	}
	const ttl, outage = 12 * time.Second, 8500 * time.Millisecond
	ns := startNATS(t)
	kv := leases(t, ns, ttl)
	l, lost := keep(t, kv, "account-1")
	epoch := l.Epoch()
	first := revision(kv, "account-1")
	for revision(kv, "account-1") == first { // the outage starts just after a renewal
		time.Sleep(50 * time.Millisecond)
	}

	ns.stop()
	time.Sleep(outage) // the outage being survived, not a wait for an effect
	ns.start()
	renewedAt := revision(kv, "account-1")
	deadline := time.After(ttl / 3)
	for renewed := false; !renewed; {
		select {
		case err := <-lost:
			t.Fatalf("the lease was lost over a %v outage: %v", outage, err)
		case <-deadline:
			t.Fatalf("the lease was not renewed within %v of NATS coming back (revision %d)", ttl/3, renewedAt)
		case <-time.After(100 * time.Millisecond):
			renewed = revision(kv, "account-1") > renewedAt
		}
	}
	select {
	case err := <-lost:
		t.Fatalf("the lease was lost after NATS came back: %v", err)
	case <-time.After(ttl / 3):
	}
	if l.Epoch() != epoch {
		t.Fatalf("epoch changed from %d to %d", epoch, l.Epoch())
	}
}

// TestALeaseNotRenewedInTimeIsGivenUpBeforeItCanExpire: with NATS away for longer than the time
// to live, the holder gives the lease up, and it does so before the key can have expired on the
// server (which is ttl after the last renewal was stored, so no earlier than ttl after the
// outage began, since every renewal was sent before it).
func TestALeaseNotRenewedInTimeIsGivenUpBeforeItCanExpire(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a nats-server: the fast tier (-short) skips it")
	}
	ns := startNATS(t)
	kv := leases(t, ns, ttl)
	_, lost := keep(t, kv, "account-1")

	ns.stop()
	down := time.Now()
	select {
	case err := <-lost:
		if after := time.Since(down); after >= ttl {
			t.Fatalf("gave the lease up %v after NATS went away: the key may have expired already (ttl %v)", after, ttl)
		}
		t.Logf("lost %v after NATS went away: %v", time.Since(down).Round(time.Millisecond), err)
	case <-time.After(2 * ttl):
		t.Fatal("the holder still believes it holds the lease 2 × ttl after NATS went away")
	}
}

// TestALeaseTakenByAnotherIsLostAtOnce: when the key has changed hands (here, another writer
// replaced it), the next renewal sees it and the holder stops, without waiting for the time to
// live.
func TestALeaseTakenByAnotherIsLostAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a nats-server: the fast tier (-short) skips it")
	}
	ns := startNATS(t)
	kv := leases(t, ns, ttl)
	_, lost := keep(t, kv, "account-1")
	if _, err := kv.Put(context.Background(), "account-1", []byte(`{"holder":"someone else"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-lost:
		t.Logf("lost: %v", err)
	case <-time.After(ttl/3 + time.Second): // the next renewal, and a second for it
		t.Fatal("the holder did not notice that the lease changed hands")
	}
}

// TestAcquireWaitsForNATSToComeBack: a standby that asks for the lease while the NATS server is
// away waits for it instead of failing (and its process exiting, to be restarted in a loop).
func TestAcquireWaitsForNATSToComeBack(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a nats-server: the fast tier (-short) skips it")
	}
	ns := startNATS(t)
	kv := leases(t, ns, ttl)
	ns.stop()
	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		l, err := lease.Acquire(ctx, kv, "account-1", "standby", quiet())
		if err == nil && l.Epoch() <= 0 {
			err = fmt.Errorf("epoch %d", l.Epoch())
		}
		got <- err
	}()
	time.Sleep(time.Second) // the outage the standby waits through
	select {
	case err := <-got:
		t.Fatalf("Acquire returned while NATS was away: %v", err)
	default:
	}
	ns.start()
	if err := <-got; err != nil {
		t.Fatalf("Acquire after NATS came back: %v", err)
	}
}

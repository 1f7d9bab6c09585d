package testkit

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"tsbank/platform/provision"
)

// StartNATS runs a nats-server with JetStream inside the test process, on a random port of
// 127.0.0.1 with its store in a temp dir, and shuts it down when the test ends. Each call is a
// new server with the bank's assets provisioned (platform/provision, single replica), so tests
// do not share streams or consumers, and services, which never create them, find them.
func StartNATS(t testing.TB) *server.Server {
	t.Helper()
	s := StartBareNATS(t)
	Provision(t, s.ClientURL(), provision.Defaults)
	return s
}

// Provision creates the bank's streams, buckets and consumer on the server at url, as the
// deployment's provisioning step does; opts may carry NATS credentials (an administrator's).
func Provision(t testing.TB, url string, o provision.Options, opts ...nats.Option) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := provision.At(ctx, url, o, opts...); err != nil {
		t.Fatalf("provision: %v", err)
	}
}

// StartBareNATS is StartNATS without the bank's assets.
func StartBareNATS(t testing.TB) *server.Server {
	t.Helper()
	SkipShort(t)
	opts := &server.Options{
		Host: "127.0.0.1",
		Port: -1,
		// Monitoring on a free port, as a deployment has it (the Observer reads /varz).
		HTTPHost:  "127.0.0.1",
		HTTPPort:  -1,
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

// NATSCluster is three nats-servers with JetStream, routed together, inside the test process.
type NATSCluster struct {
	Servers []*server.Server
}

// StartNATSCluster runs a three-server JetStream cluster on free ports of 127.0.0.1, each routed
// to the others, and provisions the bank's assets with three replicas once JetStream has a meta
// leader.
func StartNATSCluster(t testing.TB) *NATSCluster {
	t.Helper()
	SkipShort(t)
	// A clustered server is not ready until it has met its peers, so every route must be known
	// before the first one starts.
	var routes []*url.URL
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		routes = append(routes, &url.URL{Scheme: "nats", Host: l.Addr().String()})
		l.Close()
	}
	c := &NATSCluster{}
	for i, r := range routes {
		port, _ := strconv.Atoi(r.Port())
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "tsbank", Host: "127.0.0.1", Port: port},
			Routes:  routes,
		})
		if err != nil {
			t.Fatalf("new nats-server: %v", err)
		}
		go s.Start()
		t.Cleanup(s.Shutdown)
		c.Servers = append(c.Servers, s)
	}
	CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		leader := false
		for _, s := range c.Servers {
			if !s.ReadyForConnections(10 * time.Millisecond) {
				return fmt.Errorf("%s not ready", s.Name())
			}
			leader = leader || s.JetStreamIsLeader()
		}
		if !leader {
			return fmt.Errorf("no JetStream meta leader yet")
		}
		return nil
	})
	Provision(t, c.URLs(), provision.Options{Replicas: 3, LeaseTTL: provision.Defaults.LeaseTTL})
	return c
}

// URLs is every server's client URL, comma-separated, as NATS_URL takes them.
func (c *NATSCluster) URLs() string {
	var urls []string
	for _, s := range c.Servers {
		urls = append(urls, s.ClientURL())
	}
	return strings.Join(urls, ",")
}

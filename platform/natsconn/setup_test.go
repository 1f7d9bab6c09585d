package natsconn_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tsbank/platform/natsconn"
)

// TestSetUpWaitsForAClusterStillForming starts one server of a three-server cluster and asks it for
// a stream with three replicas: JetStream cannot answer until the others join, 1.5 s later. SetUp
// must wait for them rather than fail, and the stream must then be there with its three replicas.
func TestSetUpWaitsForAClusterStillForming(t *testing.T) {
	var routes []*url.URL
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		routes = append(routes, &url.URL{Scheme: "nats", Host: l.Addr().String()})
		l.Close()
	}
	start := func(i int) *server.Server {
		port, _ := strconv.Atoi(routes[i].Port())
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "setup", Host: "127.0.0.1", Port: port},
			Routes:  routes,
		})
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		t.Cleanup(s.Shutdown)
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("n%d did not start", i+1)
		}
		return s
	}
	first := start(0)
	nc, err := nats.Connect(first.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(1500 * time.Millisecond)
		start(1)
		start(2)
	}()
	attempts := 0
	began := time.Now()
	err = natsconn.SetUp(context.Background(), slog.Default(), func(ctx context.Context) error {
		attempts++
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Replicas: 3})
		return err
	})
	if err != nil {
		t.Fatalf("SetUp after %d attempts in %v: %v", attempts, time.Since(began), err)
	}
	if attempts < 2 {
		t.Fatalf("%d attempt: the cluster was ready at once, so the test showed nothing", attempts)
	}
	info, err := js.Stream(context.Background(), "S")
	if err != nil || info.CachedInfo().Config.Replicas != 3 {
		t.Fatalf("stream S: %v", err)
	}
	t.Logf("ready after %d attempts, %v", attempts, time.Since(began))
}

// TestSetUpReturnsOtherErrorsAtOnce: an error that waiting cannot cure is not retried.
func TestSetUpReturnsOtherErrorsAtOnce(t *testing.T) {
	attempts := 0
	denied := errors.New("nats: permissions violation")
	err := natsconn.SetUp(context.Background(), slog.Default(), func(context.Context) error {
		attempts++
		return denied
	})
	if !errors.Is(err, denied) || attempts != 1 {
		t.Fatalf("SetUp = %v after %d attempts, want the error after one", err, attempts)
	}
}

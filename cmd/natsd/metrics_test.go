package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tsbank/platform/ops"
)

// TestMetricsShowTheServerAndItsStreams reads /metrics of a server with a stream and a consumer
// that has messages waiting, as Prometheus would.
func TestMetricsShowTheServerAndItsStreams(t *testing.T) {
	t.Parallel()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), ServerName: "n1", NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"ev.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, "EVENTS", jetstream.ConsumerConfig{Durable: "reader"}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := js.Publish(ctx, "ev.x", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}

	reg := ops.NewRegistry()
	reg.MustRegister(newServerCollector(ns))
	srv := ops.NewServer("127.0.0.1:0", reg, nil)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	resp, err := http.Get("http://" + srv.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	id := ns.ID()
	for _, line := range []string{
		`gnatsd_varz_connections{server_id="` + id + `"} 1`,
		`jetstream_server_total_streams{server_id="` + id + `",server_name="n1"} 1`,
		`jetstream_stream_total_messages{account="$G",server_id="` + id + `",server_name="n1",stream_name="EVENTS"} 3`,
		`jetstream_consumer_num_pending{account="$G",consumer_name="reader",server_id="` + id + `",server_name="n1",stream_name="EVENTS"} 3`,
		`go_goroutines `,
	} {
		if !strings.Contains(string(body), "\n"+line) {
			t.Errorf("no %s in\n%s", line, body)
		}
	}
}

package main

import (
	"bufio"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tsbank/contract/client"
)

// TestREADMEExamplesWorkOnTheDevstack starts the local stack on free ports and sends every
// `nats req` line of the README's tested block, as `nats req` would send it; each must get a
// reply that is not an error. `nats kv get` lines are checked through JetStream.
func TestREADMEExamplesWorkOnTheDevstack(t *testing.T) {
	lines := readmeExamples(t)
	if len(lines) < 5 {
		t.Fatalf("found %d example lines in the README; the marker or block moved", len(lines))
	}
	s, err := startStack(context.Background(), options{natsPort: -1, monitorPort: -1, nodes: []string{"account-1", "account-2"}},
		slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if s != nil {
		t.Cleanup(s.stop)
	}
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(s.ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range lines {
		fields := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "nats req "):
			subject := fields[2]
			body := line[strings.Index(line, "'")+1 : strings.LastIndex(line, "'")]
			msg, err := nc.Request(subject, []byte(body), 5*time.Second)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			if e := client.ReplyError(msg); e != nil {
				t.Fatalf("%s: %v", line, e)
			}
		case strings.HasPrefix(line, "nats kv get "):
			kv, err := js.KeyValue(context.Background(), fields[3])
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			if _, err := kv.Get(context.Background(), fields[4]); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
		}
	}
}

// readmeExamples returns the command lines of the fenced block after <!-- devstack-examples -->.
func readmeExamples(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	state := 0 // 0: before the marker, 1: before the fence, 2: in the block
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case state == 0 && line == "<!-- devstack-examples -->":
			state = 1
		case state == 1 && strings.HasPrefix(line, "```"):
			state = 2
		case state == 2 && strings.HasPrefix(line, "```"):
			return lines
		case state == 2 && line != "":
			lines = append(lines, line)
		}
	}
	return lines
}

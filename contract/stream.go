package contract

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nats-io/nats.go/jetstream"
)

// EventsStreamConfig is the events stream, created (or updated) by every service that publishes to
// or reads from it, so that none depends on another having started first. Its duplicate window
// lets JetStream drop an account node's re-publish of an event whose mark-sent was lost in a crash;
// the history's unique event id covers a re-publish later than that.
//
// The stream captures what the nodes publish, bank.outbox.<node>.<account>.<type>, and re-publishes
// every message it stores to the customers' bank.events.<account>.<type>, dropping the node: so a
// subscriber sees only stored events, on the subject it always used. The re-publish destination
// must not be one of the stream's subjects (the server refuses the cycle), which is why the stream
// no longer captures bank.events.>; the messages stored there before stay in the stream.
func EventsStreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        EventsStream,
		Description: "TSBank balance-change events, one per committed change",
		Subjects:    []string{OutboxSubjects},
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Duplicates:  10 * time.Minute,
		RePublish: &jetstream.RePublish{
			Source:      "bank.outbox.*.*.*",
			Destination: "bank.events.{{wildcard(2)}}.{{wildcard(3)}}",
		},
	}
}

// EnsureEventsStream returns a JetStream context on nc after creating or updating the events
// stream with the given replica count.
func EnsureEventsStream(ctx context.Context, nc *nats.Conn, replicas int) (jetstream.JetStream, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, EventsStreamConfig(replicas)); err != nil {
		return nil, fmt.Errorf("stream %s: %w", EventsStream, err)
	}
	return js, nil
}

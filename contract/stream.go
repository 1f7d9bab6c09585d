package contract

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// EventsStreamConfig is the events stream, created (or updated) by the provisioning step
// (platform/provision), never by a service. Its duplicate window
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
		// The bank's event log is append-only: no message may be deleted, nor the stream purged.
		DenyDelete: true,
		DenyPurge:  true,
		RePublish: &jetstream.RePublish{
			Source:      "bank.outbox.*.*.*",
			Destination: "bank.events.{{wildcard(2)}}.{{wildcard(3)}}",
		},
	}
}

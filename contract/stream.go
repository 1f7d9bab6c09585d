package contract

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// EventsStreamConfig is the events stream, created (or updated) by the provisioning step
// (platform/provision), never by a service. Its duplicate window
// lets JetStream drop an account node's re-publish of an event whose mark-sent was lost in a crash;
// the history's unique event id covers a re-publish later than that.
func EventsStreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        EventsStream,
		Description: "TSBank balance-change events, one per committed change",
		Subjects:    []string{EventsSubjects},
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Duplicates:  10 * time.Minute,
	}
}

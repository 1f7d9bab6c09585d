package provision_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"tsbank/contract"
	"tsbank/platform/provision"
	"tsbank/testkit"
)

// TestProvisioningUpgradesTheAssetsOfTheVersionBefore runs the provisioning step on the assets as
// the services used to create them themselves (a plain registry bucket, the stream on
// bank.events.>, the consumer with its filter) and checks that it takes them over, keeps their
// data, and makes the registry create-only.
func TestProvisioningUpgradesTheAssetsOfTheVersionBefore(t *testing.T) {
	ns := testkit.StartBareNATS(t)
	js, err := jetstream.New(testkit.Connect(t, ns))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	old, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: contract.AccountsBucket, History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Create(ctx, "alice", []byte("account-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: contract.EventsStream, Subjects: []string{"bank.events.>"},
		Storage: jetstream.FileStorage, Duplicates: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "bank.events.alice.deposit", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateConsumer(ctx, contract.EventsStream, jetstream.ConsumerConfig{Durable: contract.HistoryConsumer,
		AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "bank.events.>"}); err != nil {
		t.Fatal(err)
	}

	for range 2 { // and again: it is idempotent
		if err := provision.Run(ctx, js, provision.Defaults); err != nil {
			t.Fatal(err)
		}
	}

	kv, err := js.KeyValue(ctx, contract.AccountsBucket)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, "alice"); err != nil || string(e.Value()) != "account-1" {
		t.Fatalf("alice's entry after provisioning: %v", err)
	}
	if _, err := kv.Put(ctx, "alice", []byte("account-2")); err == nil {
		t.Fatal("the registry took a second write to alice")
	}
	if _, err := kv.Create(ctx, "bob", []byte("account-2")); err != nil {
		t.Fatalf("a new entry: %v", err)
	}
	s, err := js.Stream(ctx, contract.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	if info := s.CachedInfo(); info.State.Msgs != 1 || !info.Config.DenyDelete || !info.Config.DenyPurge {
		t.Fatalf("events stream after provisioning: %d messages, %+v", info.State.Msgs, info.Config)
	}
	c, err := js.Consumer(ctx, contract.EventsStream, contract.HistoryConsumer)
	if err != nil {
		t.Fatal(err)
	}
	if f := c.CachedInfo().Config.FilterSubject; f != "" {
		t.Fatalf("the consumer still filters on %q", f)
	}
}

// TestProvisioningAppliesTheEventsRetention pins issue 12's unbounded stream: TSBANK_EVENTS kept
// every event for ever, whatever the deployment wanted. Provisioning sets its MaxAge from
// EventsRetention (30 days unless chosen, or for ever when asked), on a new stream and on one that
// already holds events, which it keeps; a retention under the ten-minute duplicate window shortens
// the window, which JetStream requires.
func TestProvisioningAppliesTheEventsRetention(t *testing.T) {
	ns := testkit.StartBareNATS(t)
	js, err := jetstream.New(testkit.Connect(t, ns))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tests := []struct {
		name                  string
		retention             time.Duration
		wantMaxAge, wantDupes time.Duration
	}{
		{"unset keeps events 30 days", 0, 30 * 24 * time.Hour, 10 * time.Minute},
		{"a chosen retention is the stream's max age", 2 * time.Hour, 2 * time.Hour, 10 * time.Minute},
		{"KeepEvents keeps them for ever", provision.KeepEvents, 0, 10 * time.Minute},
		{"a retention under the duplicate window shortens the window", 30 * time.Second, 30 * time.Second, 30 * time.Second},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := provision.Defaults
			o.EventsRetention = tt.retention
			if err := provision.Run(ctx, js, o); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				if _, err := js.Publish(ctx, contract.OutboxSubject("account-1", "alice", "deposit"), []byte(`{}`)); err != nil {
					t.Fatal(err)
				}
			}
			s, err := js.Stream(ctx, contract.EventsStream)
			if err != nil {
				t.Fatal(err)
			}
			info := s.CachedInfo()
			if info.Config.MaxAge != tt.wantMaxAge || info.Config.Duplicates != tt.wantDupes || info.State.Msgs != 1 {
				t.Fatalf("max age %v, duplicate window %v, %d events; want %v, %v and the 1 event kept",
					info.Config.MaxAge, info.Config.Duplicates, info.State.Msgs, tt.wantMaxAge, tt.wantDupes)
			}
		})
	}
}

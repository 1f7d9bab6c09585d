package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"tsbank/contract"
	"tsbank/platform/provision"
	"tsbank/services/history/history"
	"tsbank/testkit"
)

// forgedRow is a row of forged_events, as the test reads it.
type forgedRow struct {
	account, subject, claimed, publisher, owner, reason string
}

func (f *fixture) forged() map[string]forgedRow {
	f.t.Helper()
	rows, err := f.pool.Query(context.Background(), `SELECT event_id, account, subject, claimed_node,
		coalesce(publishing_node, '-'), coalesce(registry_owner, '-'), reason FROM forged_events`)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]forgedRow{}
	for rows.Next() {
		var id string
		var r forgedRow
		if err := rows.Scan(&id, &r.account, &r.subject, &r.claimed, &r.publisher, &r.owner, &r.reason); err != nil {
			f.t.Fatal(err)
		}
		out[id] = r
	}
	return out
}

func (f *fixture) metric(line string) error {
	resp, err := http.Get("http://" + f.srv.HTTPAddr() + "/metrics")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), line+"\n") {
		return fmt.Errorf("no %q in the metrics", line)
	}
	return nil
}

// TestForgedEventsAreRecordedApartAndOnlyGenuineOnesBecomeTransactions publishes, besides a genuine
// event of each node, an event on another node's outbox subject, one whose node does not own its
// account, one of an account no node owns and one whose subject names another account: each is
// recorded in forged_events with its reason, none is a transaction, and the counter says four.
func TestForgedEventsAreRecordedApartAndOnlyGenuineOnesBecomeTransactions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register("alice", "account-1")
	f.register("bob", "account-2")
	base := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	genuine := event("alice", 0, base)
	genuineBob := event("bob", 1, base)
	genuineBob.Node, genuineBob.Seq = "account-2", 1
	f.publish(genuine, genuineBob)

	wrongPublisher := event("alice", 2, base) // says account-1, published by account-2's user
	f.publishOn(contract.OutboxSubject("account-2", "alice", contract.EventDeposit), wrongPublisher)
	notOwner := event("bob", 3, base) // account-1 writing for bob, whom account-2 owns
	f.publishOn(contract.OutboxSubject("account-1", "bob", contract.EventDeposit), notOwner)
	unregistered := event("mallory", 4, base)
	f.publishOn(contract.OutboxSubject("account-1", "mallory", contract.EventDeposit), unregistered)
	otherSubject := event("alice", 5, base) // alice's event, sent to bob's subscribers
	f.publishOn(contract.OutboxSubject("account-1", "bob", contract.EventDeposit), otherSubject)

	f.start()
	want := map[string]forgedRow{
		wrongPublisher.ID: {"alice", "bank.outbox.account-2.alice.deposit", "account-1", "account-2", "account-1", history.ForgedNodeMismatch},
		notOwner.ID:       {"bob", "bank.outbox.account-1.bob.deposit", "account-1", "account-1", "account-2", history.ForgedNotOwner},
		unregistered.ID:   {"mallory", "bank.outbox.account-1.mallory.deposit", "account-1", "account-1", "-", history.ForgedUnregistered},
		otherSubject.ID:   {"alice", "bank.outbox.account-1.bob.deposit", "account-1", "account-1", "account-1", history.ForgedSubjectMismatch},
	}
	testkit.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		if got := f.forged(); len(got) != len(want) {
			return fmt.Errorf("%d forged events recorded, want %d: %v", len(got), len(want), got)
		}
		return nil
	})
	for id, row := range f.forged() {
		if row != want[id] {
			t.Errorf("forged event %s = %+v, want %+v", id, row, want[id])
		}
	}
	f.waitFor(2)
	var ids []string
	rows, err := f.pool.Query(context.Background(), `SELECT event_id::text FROM transactions ORDER BY event_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if len(ids) != 2 || ids[0] != genuine.ID || ids[1] != genuineBob.ID {
		t.Fatalf("transactions = %v, want only the genuine %s and %s", ids, genuine.ID, genuineBob.ID)
	}
	testkit.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		return f.metric("tsbank_history_events_forged_total 4")
	})
	counts, err := f.store.ForgedCounts(context.Background(), "")
	if err != nil || len(counts) != 3 || counts["alice"] != 2 || counts["bob"] != 1 || counts["mallory"] != 1 {
		t.Fatalf("forged counts = %v, %v", counts, err)
	}
}

// TestEventsStoredBeforeTheUpgradeAreCheckedForOwnershipOnly stores events the way nodes published
// them before the outbox subjects, on bank.events.<account>.<type>, then upgrades the stream: such
// a subject names no publisher, so an event there is genuine when its node owns its account, and
// forged otherwise.
func TestEventsStoredBeforeTheUpgradeAreCheckedForOwnershipOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	old := provision.EventsConfig(provision.Options{Replicas: 1, EventsRetention: provision.KeepEvents})
	old.Subjects, old.RePublish = []string{contract.EventsSubjects}, nil
	if _, err := f.js.UpdateStream(ctx, old); err != nil {
		t.Fatal(err)
	}
	f.register("alice", "account-1")
	base := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	genuine := event("alice", 0, base)
	f.publishOn(contract.EventSubject("alice", contract.EventDeposit), genuine)
	notOwner := event("alice", 1, base)
	notOwner.Node = "account-2"
	f.publishOn(contract.EventSubject("alice", contract.EventDeposit), notOwner)
	if _, err := f.js.UpdateStream(ctx, provision.EventsConfig(provision.Options{Replicas: 1, EventsRetention: provision.KeepEvents})); err != nil {
		t.Fatal(err)
	}
	after := event("alice", 2, base)
	after.Seq = 2
	f.publish(after)

	f.start()
	f.waitFor(2)
	testkit.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		got := f.forged()
		if r, ok := got[notOwner.ID]; len(got) != 1 || !ok || r.reason != history.ForgedNotOwner || r.publisher != "-" {
			return fmt.Errorf("forged events = %v, want only %s as not_owner with no publisher", got, notOwner.ID)
		}
		return nil
	})
	if n := f.count(); n != 2 {
		t.Fatalf("%d transactions, want the genuine event from before the upgrade and the one after", n)
	}
}

// TestTheStreamRepublishesEachStoredEventOnTheCustomersSubject: a core subscription on
// bank.events.alice.> receives alice's event that a node published on its outbox subject.
func TestTheStreamRepublishesEachStoredEventOnTheCustomersSubject(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sub, err := f.nc.SubscribeSync("bank.events.alice.>")
	if err != nil {
		t.Fatal(err)
	}
	e := event("alice", 0, time.Now())
	f.publish(e)
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "bank.events.alice.deposit" || !strings.Contains(string(msg.Data), e.ID) ||
		msg.Header.Get(jetstream.SubjectHeader) != contract.OutboxSubject("account-1", "alice", contract.EventDeposit) {
		t.Fatalf("received %s %s %v", msg.Subject, msg.Data, msg.Header)
	}
}

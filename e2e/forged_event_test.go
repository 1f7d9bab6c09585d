package e2e

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/platform/idgen"
	"tsbank/testkit"
)

// TestAForgedEventNeverReachesTheHistoryAndReconciliationReportsIt replays issue 10's incident: a
// plain connection (a leaked node credential) publishes a well-formed deposit event for bob, whom
// account-2 owns, once on account-1's outbox subject and once on account-2's with the event naming
// account-1. The history refuses both: bob's history and statement are as before, reconciliation
// finds no difference (the node lost nothing) and counts the two forged events for bob.
func TestAForgedEventNeverReachesTheHistoryAndReconciliationReportsIt(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	b.startHistory()
	b.open("alice", "account-1", "EUR")
	b.open("bob", "account-2", "EUR")
	b.deposit("alice", "20.00")
	b.deposit("bob", "10.00")
	b.historyMatchesOutboxes()
	statement := func() contract.Statement {
		var s contract.Statement
		if err := b.c.Call(ctx(t), contract.HistorySubject("bob", "statement"),
			contract.StatementRequest{From: "2026-01-01", To: "2100-01-01"}, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := statement()

	forged := contract.Event{
		ID: idgen.UUIDv7(), Version: contract.EventVersion, Type: contract.EventDeposit, Account: "bob", Node: "account-1",
		Amount: "1000.00", AmountMinor: 100000, Currency: "EUR", BalanceAfter: "1010.00", BalanceMinor: 101000,
		Time: time.Now().UTC(), Description: "forged", RequestID: "d-forged", Seq: 2,
	}
	for _, publisher := range nodeNames {
		forged.ID = idgen.UUIDv7()
		data, err := json.Marshal(forged)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.nc.Publish(contract.OutboxSubject(publisher, "bob", contract.EventDeposit), data); err != nil {
			t.Fatal(err)
		}
	}
	testkit.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		var n int
		if err := b.pool("history").QueryRow(ctx(t), `SELECT count(*) FROM forged_events WHERE account = 'bob'`).Scan(&n); err != nil || n != 2 {
			return fmt.Errorf("%d forged events of bob recorded, %v", n, err)
		}
		return nil
	})
	var reasons string
	if err := b.pool("history").QueryRow(ctx(t), `SELECT string_agg(publishing_node || ':' || reason, ',' ORDER BY publishing_node)
		FROM forged_events`).Scan(&reasons); err != nil || reasons != "account-1:not_owner,account-2:node_mismatch" {
		t.Fatalf("forged events = %q, %v", reasons, err)
	}

	b.historyMatchesOutboxes()
	if after := statement(); !reflect.DeepEqual(after, before) {
		t.Fatalf("bob's statement changed from %+v to %+v", before, after)
	}
	if bal := b.balance("bob"); bal != "10.00" {
		t.Fatalf("bob's balance = %s", bal)
	}
	r := b.reconcile()
	if len(r.Differences) != 0 || r.Accounts != 2 {
		t.Fatalf("reconciliation over %d accounts: %+v", r.Accounts, r.Differences)
	}
	if want := map[string]int64{"bob": 2}; !reflect.DeepEqual(r.Forged, want) {
		t.Fatalf("reconciliation counts forged events %v, want %v", r.Forged, want)
	}
	var one contract.Reconciliation
	if err := b.c.Call(ctx(t), contract.SubjectReconcile, contract.ReconcileRequest{Account: "alice"}, &one); err != nil ||
		len(one.Differences) != 0 || len(one.Forged) != 0 {
		t.Fatalf("alice's reconciliation = %+v, %v; want clean, nothing forged", one, err)
	}
}

// TestHistoryEventsStillReachACoreSubscriberOnTheCustomersSubject: nodes publish on
// bank.outbox.<node>.…, and the stream re-publishes each stored event, so `nats sub
// 'bank.events.alice.>'` receives alice's deposit as before.
func TestHistoryEventsStillReachACoreSubscriberOnTheCustomersSubject(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	b.open("alice", "account-1", "EUR")
	b.open("bob", "account-2", "EUR")
	sub, err := b.nc.SubscribeSync("bank.events.alice.>")
	if err != nil {
		t.Fatal(err)
	}
	b.deposit("bob", "1.00")
	receipt, err := b.c.Deposit(ctx(t), "alice", contract.MoneyRequest{ID: "d-1", Amount: "12.50", Description: "salary"})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var e contract.Event
	if err := json.Unmarshal(msg.Data, &e); err != nil || msg.Subject != "bank.events.alice.deposit" ||
		e.ID != receipt.EventID || e.Amount != "12.50" || e.Node != "account-1" {
		t.Fatalf("received %s %s (%v), want alice's deposit %s", msg.Subject, msg.Data, err, receipt.EventID)
	}
}

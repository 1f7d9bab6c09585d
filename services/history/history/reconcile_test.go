package history_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"tsbank/services/history/history"
)

func (b *bank) reconcile(account string) history.Reconciliation {
	b.t.Helper()
	r, err := b.svc.Reconcile(context.Background(), account)
	if err != nil {
		b.t.Fatal(err)
	}
	return r
}

// wantProblems fails unless r's differences are exactly one per account of want, each with a
// problem that contains want's text.
func wantProblems(t *testing.T, r history.Reconciliation, want map[string]string) {
	t.Helper()
	if len(r.Differences) != len(want) {
		t.Fatalf("differences %+v, want one for each of %v", r.Differences, want)
	}
	for _, d := range r.Differences {
		if w, ok := want[d.Account]; !ok || !strings.Contains(d.Problem, w) {
			t.Errorf("%s: %q, want %q", d.Account, d.Problem, w)
		}
	}
}

// TestReconciliationFindsNoDifferenceWhileTheBankRuns: events keep coming while accounts are
// checked; the node answers with the number of its newest event, and the history's rows beyond it
// (ingested since) are not compared.
func TestReconciliationFindsNoDifferenceWhileTheBankRuns(t *testing.T) {
	b := newBank(t)
	b.events("alice", 1000, -250)
	b.events("bob", 500)
	b.nodes.accounts["carol"] = nodeAccount{currency: jpy} // opened, no event yet
	b.nodes.onBalance = func(account string) {
		if account != "alice" {
			return
		}
		// Between the history's summary and the node's answer, events 3 and 4 commit on the node,
		// and 3, 4 and 5 reach the history: the node answers with 4.
		b.insert(b.row("alice", 3, 100, 850), b.row("alice", 4, 100, 950), b.row("alice", 5, 100, 1050))
		b.nodes.accounts["alice"] = nodeAccount{currency: eur, balance: 950, seq: 4}
	}
	r := b.reconcile("")
	if r.Accounts != 3 || len(r.Differences) != 0 || len(r.Forged) != 0 {
		t.Fatalf("reconciliation: %+v, want 3 accounts and no difference", r)
	}
	if len(b.clock.waited) != 0 {
		t.Fatalf("waited %v with nothing behind", b.clock.waited)
	}
	if len(b.found) != 1 || b.found[0] != 0 {
		t.Fatalf("the differences hook was told %v, want [0]", b.found)
	}
}

// TestReconciliationFindsWhatWentWrong breaks the history and the nodes in each way reconciliation
// must see, one account each, and expects each to be reported, and nothing else.
func TestReconciliationFindsWhatWentWrong(t *testing.T) {
	b := newBank(t)
	for _, id := range []string{"lost", "changed", "forgot", "doubled", "fine"} {
		b.events(id, 1000, 1000, 1000)
	}
	// The history's rows are broken below; the nodes' accounts stay as they were made, but that
	// forgot's node lost its last event, as a restore from an old backup would.
	b.svc.Store = brokenHistory(t)
	b.nodes.accounts["forgot"] = nodeAccount{currency: eur, balance: 2000, seq: 2}
	b.nodes.accounts["down"] = nodeAccount{currency: eur}
	b.nodes.down["down"] = true
	r := b.reconcile("")
	wantProblems(t, r, map[string]string{
		"changed": "the history's events 1 to 3 add up to 30.01, the node's balance is 30.00",
		"doubled": "the history has 4 rows numbered 1 to 3: an event is doubled",
		"down":    "the node did not answer: " + errNodeDown.Error(),
		"forgot":  "the history has events numbered up to 3, the node's newest is 2: the node lost events",
		"lost":    "the history has 2 of the node's 3 events: not yet ingested, or lost",
	})
	if r.Accounts != 6 {
		t.Errorf("%d accounts checked, want 6", r.Accounts)
	}
	for i, d := range r.Differences[1:] {
		if r.Differences[i].Account >= d.Account {
			t.Errorf("differences not in account order: %s before %s", r.Differences[i].Account, d.Account)
		}
	}
	if d := r.Differences[0]; d.Account != "changed" || d.Currency != "EUR" || d.NodeBalance != "30.00" || d.NodeEventSeq != 3 ||
		d.LastBalance != "30.00" || d.SumOfAmounts != "30.01" {
		t.Errorf("changed's difference %+v", d)
	}
	// A missing row may be one not ingested yet: it is looked for again until CatchUp has passed.
	var waited time.Duration
	for _, w := range b.clock.waited {
		waited += w
	}
	if len(b.clock.waited) < 2 || b.clock.waited[0] != 50*time.Millisecond || waited > b.svc.CatchUp {
		t.Errorf("waited %v (%v in all), want from 50ms on, within %v", b.clock.waited, waited, b.svc.CatchUp)
	}
	if len(b.found) != 1 || b.found[0] != 5 {
		t.Errorf("the differences hook was told %v, want [5]", b.found)
	}
}

// brokenHistory is a store with each account's three deposits of 10.00, broken: lost's event 2 is
// missing, changed's event 1 has a cent more, doubled's event 2 is there twice.
func brokenHistory(t *testing.T) history.Store {
	t.Helper()
	s := newBank(t)
	for _, id := range []string{"lost", "changed", "forgot", "doubled", "fine"} {
		rows := []history.Row{s.row(id, 1, 1000, 1000), s.row(id, 2, 1000, 2000), s.row(id, 3, 1000, 3000)}
		switch id {
		case "lost":
			rows = append(rows[:1], rows[2])
		case "changed":
			rows[0].Amount++
		case "doubled":
			rows = append(rows, s.row(id, 2, 1000, 2000))
		}
		s.insert(rows...)
	}
	return s.store
}

// TestReconciliationWaitsForTheIngestToCatchUp: an event the node has and the history not yet is
// waited for, and is no difference once it arrives.
func TestReconciliationWaitsForTheIngestToCatchUp(t *testing.T) {
	b := newBank(t)
	rows := b.events("alice", 1000, 1000, 1000)
	slow := newBank(t) // its store is the history, which has not ingested event 3 yet
	slow.insert(rows[:2]...)
	b.svc.Store = slow.store
	b.clock.onWait = func() { slow.insert(rows[2]) }
	if r := b.reconcile("alice"); len(r.Differences) != 0 || r.Accounts != 1 {
		t.Fatalf("reconciliation: %+v, want no difference", r)
	}
	if len(b.clock.waited) != 1 || b.clock.waited[0] != 50*time.Millisecond {
		t.Fatalf("waited %v, want once, 50ms", b.clock.waited)
	}
	if len(b.found) != 0 {
		t.Fatalf("the differences hook was told %v for one account's reconciliation", b.found)
	}
}

// TestReconciliationCountsForgedEventsApart: forged events are no difference (they never became
// rows), and each account checked says how many name it.
func TestReconciliationCountsForgedEventsApart(t *testing.T) {
	b := newBank(t)
	b.events("alice", 1000)
	b.events("bob", 1000)
	if _, err := b.store.RecordForged(context.Background(), []history.Forged{
		{StreamSeq: 7, EventID: "f-1", Account: "alice", Reason: history.ForgedNodeMismatch},
		{StreamSeq: 8, EventID: "f-2", Account: "alice", Reason: history.ForgedNotOwner},
		{StreamSeq: 9, EventID: "f-3", Account: "mallory", Reason: history.ForgedUnregistered},
	}); err != nil {
		t.Fatal(err)
	}
	if r := b.reconcile(""); len(r.Differences) != 0 || !maps.Equal(r.Forged, map[string]int64{"alice": 2}) {
		t.Fatalf("reconciliation: %+v, want no difference and alice's 2 forged events", r)
	}
	if r := b.reconcile("bob"); len(r.Differences) != 0 || len(r.Forged) != 0 || r.Accounts != 1 {
		t.Fatalf("bob's reconciliation: %+v", r)
	}
}

// TestReconciliationOfAnAccountThatExistsNowhereChecksNothing: neither the history nor a node
// knows it, so there is nothing to disagree about.
func TestReconciliationOfAnAccountThatExistsNowhereChecksNothing(t *testing.T) {
	b := newBank(t)
	if r := b.reconcile("ghost"); r.Accounts != 1 || len(r.Differences) != 0 {
		t.Fatalf("reconciliation of ghost: %+v", r)
	}
}

// TestReconciliationListsEveryNodesAccountsPageByPage: accounts without a row are found on the
// nodes, over every page of their list; those with rows are checked even if the list lacks them.
func TestReconciliationListsEveryNodesAccountsPageByPage(t *testing.T) {
	b := newBank(t)
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		b.nodes.accounts[id] = nodeAccount{currency: eur}
	}
	b.insert(b.row("gone", 1, 100, 100)) // the history has it; no node lists it, nor answers for it
	r := b.reconcile("")
	if r.Accounts != 6 {
		t.Fatalf("%d accounts checked, want 6", r.Accounts)
	}
	wantProblems(t, r, map[string]string{"gone": "the node did not answer"})
}

func TestReconciliationRefuses(t *testing.T) {
	b := newBank(t)
	_, err := b.svc.Reconcile(context.Background(), "not an id")
	wantRefusal(t, err, history.ErrInvalidID)
	b.nodes.listErr = errors.New("no responders")
	_, err = b.svc.Reconcile(context.Background(), "")
	if e := wantRefusal(t, err, history.ErrNodeUnavailable); !strings.Contains(e.Message, "could not list the accounts of the nodes: no responders") {
		t.Fatalf("message %q", e.Message)
	}
}

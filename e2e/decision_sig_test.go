package e2e

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"tsbank/contract"
	"tsbank/contract/decisionsig"
	"tsbank/testkit"
)

// snapshot is everything a forged two-phase-commit message could change: the node's accounts and
// legs, its outbox, and the coordinator's log.
func (b *bank) snapshot() string {
	b.t.Helper()
	var accounts, holds, outbox, log string
	for q, dst := range map[string]*string{
		`SELECT coalesce(string_agg(format('%s %s/%s/%s seq %s', id, balance, on_hold, pending_in, event_seq), '; ' ORDER BY id), '') FROM accounts`:        &accounts,
		`SELECT coalesce(string_agg(format('%s/%s %s %s %s', transfer_id, leg, account_id, amount, state), '; ' ORDER BY transfer_id, leg), '') FROM holds`: &holds,
		`SELECT count(*)::text FROM outbox`: &outbox,
	} {
		if err := b.pool("account-2").QueryRow(ctx(b.t), q).Scan(dst); err != nil {
			b.t.Fatal(err)
		}
	}
	if err := b.pool("coordinator").QueryRow(ctx(b.t), `SELECT coalesce(string_agg(format('%s %s %s %s', transfer_id, state,
		coalesce(outcome, '-'), resends), '; ' ORDER BY transfer_id), '') FROM transfers`).Scan(&log); err != nil {
		b.t.Fatal(err)
	}
	return fmt.Sprintf("accounts: %s\nholds: %s\noutbox: %s events\nlog: %s", accounts, holds, outbox, log)
}

// TestDecisionsWithoutAValidSignatureAreRefusedAndChangeNothing pins the hole of issue 10: a node
// used to apply any prepare and commit published on its subjects, so anyone allowed to publish
// there could credit an account with no debit. Unsigned messages, messages signed by another key,
// and a genuine commit replayed for another transfer, another account or as another operation are
// all refused with forbidden, and leave bob's balance, the node's legs and the coordinator's log as
// they were; a real transfer still commits.
func TestDecisionsWithoutAValidSignatureAreRefusedAndChangeNothing(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	b.open("alice", "account-1", "EUR")
	b.open("bob", "account-2", "EUR")
	b.open("carol", "account-2", "EUR")
	b.deposit("alice", "100.00")

	// Capture the coordinator's genuine batch with the commit of bob's leg of a real transfer: on
	// the test server anyone may subscribe, and a plain subscription gets a copy beside the node's.
	legs := contract.NodeLegsSubject("account-2")
	sub, err := b.nc.SubscribeSync(legs)
	if err != nil {
		t.Fatal(err)
	}
	t1 := b.transfer("alice", "t-1", "bob", "10.00")
	if t1.Status != contract.TransferCommitted {
		t.Fatalf("t-1 = %+v", t1)
	}
	var genuine contract.LegBatch
	for genuine.Sig == "" {
		msg, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("no commit captured on %s: %v", legs, err)
		}
		var batch contract.LegBatch
		if err := json.Unmarshal(msg.Data, &batch); err != nil || batch.Sig == "" {
			t.Fatalf("captured batch %s: %v", msg.Data, err)
		}
		if len(batch.Steps) == 1 && batch.Steps[0].Op == contract.OpCommit && batch.Steps[0].TransferID == t1.TransferID {
			genuine = batch
		}
	}
	_ = sub.Unsubscribe()
	b.settled()
	before := b.snapshot()

	other := foreignKey(t)
	signOther := func(s decisionsig.Statement) string {
		sig, err := decisionsig.Sign(other, s)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	forgedPrepare := contract.PrepareRequest{TransferID: "x-forged", Leg: contract.LegCredit, Amount: "1000.00", Counterparty: "alice"}
	forgedCommit := contract.LegRequest{TransferID: "x-forged", Leg: contract.LegCredit}
	otherPrepare, otherCommit := forgedPrepare, forgedCommit
	otherPrepare.TransferID, otherCommit.TransferID = "x-other-key", "x-other-key"
	otherPrepare.Sig = signOther(decisionsig.Prepare("bob", otherPrepare))
	otherCommit.Sig = signOther(decisionsig.Leg(contract.OpCommit, "bob", otherCommit))
	step := genuine.Steps[0]
	// The genuine batch with one thing changed, still carrying the genuine signature.
	replayed := func(change func(*contract.LegStep)) contract.LegBatch {
		st := step
		change(&st)
		return contract.LegBatch{Steps: []contract.LegStep{st}, Sig: genuine.Sig}
	}
	forgedBatch := contract.LegBatch{Steps: []contract.LegStep{{Op: contract.OpPrepare, Account: "bob", TransferID: "x-batch",
		Leg: contract.LegCredit, Amount: "1000.00", Counterparty: "alice"}}}
	otherBatch := forgedBatch
	if otherBatch.Sig, err = decisionsig.Sign(other, decisionsig.Batch(otherBatch.Steps)); err != nil {
		t.Fatal(err)
	}
	bob := func(op string) string { return contract.NodeAccountSubject("account-2", "bob", op) }

	for _, c := range []struct {
		name, subject string
		req           any
	}{
		{"an unsigned prepare", bob(contract.OpPrepare), forgedPrepare},
		{"an unsigned commit", bob(contract.OpCommit), forgedCommit},
		{"a prepare signed by another key", bob(contract.OpPrepare), otherPrepare},
		{"a commit signed by another key", bob(contract.OpCommit), otherCommit},
		{"an unsigned batch", legs, forgedBatch},
		{"a batch signed by another key", legs, otherBatch},
		{"a genuine batch replayed for another transfer", legs, replayed(func(s *contract.LegStep) { s.TransferID = "x-replayed" })},
		{"a genuine batch replayed for another account", legs, replayed(func(s *contract.LegStep) { s.Account = "carol" })},
		{"a genuine batch replayed as a prepare", legs, replayed(func(s *contract.LegStep) { s.Op, s.Amount, s.Counterparty = contract.OpPrepare, "10.00", "alice" })},
		{"a genuine batch replayed as an abort", legs, replayed(func(s *contract.LegStep) { s.Op = contract.OpAbort })},
		{"a genuine batch's signature on a single commit", bob(contract.OpCommit), contract.LegRequest{TransferID: step.TransferID, Leg: step.Leg, Sig: genuine.Sig}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var reply json.RawMessage
			err := b.c.Call(ctx(t), c.subject, c.req, &reply)
			wantCode(t, err, contract.CodeForbidden)
		})
	}
	if after := b.snapshot(); after != before {
		t.Fatalf("refused messages changed the bank:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	if t2 := b.transfer("alice", "t-2", "bob", "5.00"); t2.Status != contract.TransferCommitted {
		t.Fatalf("t-2 = %+v", t2)
	}
	if a, c := b.balance("alice"), b.balance("bob"); a != "85.00" || c != "15.00" {
		t.Fatalf("balances alice %s, bob %s; want 85.00, 15.00", a, c)
	}
}

// TestDecisionAnswersWithoutAValidSignatureKeepTheHold pins the same hole on the resolver's side:
// a node that asks bank.coordinator.decision about a leg held too long must apply only the
// coordinator's signed answer for that very leg, not any reply that reaches its inbox first.
func TestDecisionAnswersWithoutAValidSignatureKeepTheHold(t *testing.T) {
	t.Parallel()
	b := newBank(t)
	for _, name := range nodeNames {
		b.startNode(name)
	}
	b.open("alice", "account-1", "EUR")
	b.open("bob", "account-2", "EUR")
	b.mustVoteYes("account-2", "bob", "x-held", contract.LegCredit)

	other := foreignKey(t)
	// A fake coordinator answers committed, in turn unsigned, signed by another key, and signed
	// with the real key for another transfer and for another leg.
	forged := []func(d contract.Decision) contract.Decision{
		func(d contract.Decision) contract.Decision { return d },
		func(d contract.Decision) contract.Decision {
			d.Sig, _ = decisionsig.Sign(other, decisionsig.Outcome("bob", contract.LegCredit, d))
			return d
		},
		func(d contract.Decision) contract.Decision {
			d.Sig = b.sign(decisionsig.Outcome("bob", contract.LegCredit, contract.Decision{TransferID: "x-other", Outcome: d.Outcome}))
			return d
		},
		func(d contract.Decision) contract.Decision {
			d.Sig = b.sign(decisionsig.Outcome("bob", contract.LegDebit, d))
			return d
		},
	}
	var asked atomic.Int64
	fake, err := b.nc.Subscribe(contract.SubjectDecision, func(m *nats.Msg) {
		var q contract.DecisionRequest
		if json.Unmarshal(m.Data, &q) != nil || q.TransferID != "x-held" {
			return
		}
		d := forged[int(asked.Add(1)-1)%len(forged)](contract.Decision{TransferID: q.TransferID, Outcome: contract.TransferCommitted})
		data, _ := json.Marshal(d)
		_ = m.Respond(data)
	})
	if err != nil {
		t.Fatal(err)
	}
	testkit.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		if n := asked.Load(); n < int64(2*len(forged)) {
			return fmt.Errorf("the node asked %d times", n)
		}
		return nil
	})
	if err := fake.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if st := b.legState("account-2", "x-held", contract.LegCredit); st != "prepared" {
		t.Fatalf("leg after forged answers: %q, want prepared", st)
	}
	if bal := b.balance("bob"); bal != "0.00" {
		t.Fatalf("bob %s after forged answers, want 0.00", bal)
	}

	// The real coordinator has no record of x-held: it answers a signed abort, which applies.
	b.startCoordinator()
	testkit.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		if st := b.legState("account-2", "x-held", contract.LegCredit); st != "aborted" {
			return fmt.Errorf("leg %q, want aborted", st)
		}
		return nil
	})
}

// foreignKey is a signing key of the coordinator's type that no node trusts.
func foreignKey(t *testing.T) nkeys.KeyPair {
	t.Helper()
	seed, _, err := decisionsig.Generate()
	if err != nil {
		t.Fatal(err)
	}
	kp, err := decisionsig.ParseSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

package transfer_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/services/coordinator/transfer"
)

// TestRecoveryPresumesAbortOfATransferStillPreparingAfterStuckAfter: a transfer whose coordinator
// stopped between logging it and deciding is aborted by recovery once it is older than
// StuckAfter (its own coordinator would have decided by then), not before, and both legs hear it.
func TestRecoveryPresumesAbortOfATransferStillPreparingAfterStuckAfter(t *testing.T) {
	t.Parallel()
	b := newBank(t)
	ctx := context.Background()
	if _, _, err := b.store.Begin(ctx, transfer.Transfer{ID: "orphan", From: "alice", RequestID: "r-1", To: "bob", Amount: "1.00"}); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(b.c.StuckAfter())
	if aborted, _ := b.recover(t); aborted != 0 || b.get(t, "orphan").State != contract.TransferPreparing {
		t.Fatalf("at StuckAfter exactly: %d aborted, want 0 (its coordinator may be deciding)", aborted)
	}
	b.clock.Advance(time.Nanosecond)
	if aborted, _ := b.recover(t); aborted != 1 {
		t.Fatalf("past StuckAfter: %d aborted, want 1", aborted)
	}
	rec := b.get(t, "orphan")
	if rec.Outcome != contract.TransferAborted || rec.Reason != contract.CodeTimeout || rec.State != transfer.Done {
		t.Fatalf("orphan %+v, want aborted (timeout) and done", rec)
	}
	if got := b.sentTo("orphan"); !slices.Equal(got, []string{"alice:abort", "bob:abort"}) {
		t.Fatalf("decisions sent %v, want an abort to each leg", got)
	}
	if got := b.metrics.Outcomes(); !slices.Equal(got, []string{"aborted/timeout"}) {
		t.Fatalf("outcomes counted %v", got)
	}
	if aborted, resent := b.recover(t); aborted != 0 || resent != 0 {
		t.Fatalf("a second round: %d aborted, %d re-sent; want nothing left to do", aborted, resent)
	}
}

// TestRecoveryResendsADecisionOnlyToTheLegThatDidNotAcknowledgeIt: a committed transfer whose
// credit was not acknowledged has its decision re-sent, once the backoff has passed, to the credit
// alone; then it is done.
func TestRecoveryResendsADecisionOnlyToTheLegThatDidNotAcknowledgeIt(t *testing.T) {
	t.Parallel()
	b := newBank(t)
	b.nodes.Drop("bob", 1)
	rec := b.pay(t, "alice", "bob", "1.00", "r-1")
	if rec.Outcome != contract.TransferCommitted || rec.State == transfer.Done || !rec.DebitAcked || rec.CreditAcked {
		t.Fatalf("transfer %+v, want committed with the credit unacknowledged", rec)
	}
	if _, resent := b.recover(t); resent != 0 {
		t.Fatalf("before the backoff: %d re-sent, want 0", resent)
	}
	b.clock.Advance(sendTimeout) // the first backoff
	if _, resent := b.recover(t); resent != 1 {
		t.Fatalf("after the backoff: %d re-sent, want 1", resent)
	}
	if got := b.sentTo(rec.ID); !slices.Equal(got, []string{"alice:commit", "bob:commit", "bob:commit"}) {
		t.Fatalf("decisions sent %v, want the credit's twice and the debit's once", got)
	}
	if got := b.metrics.ResentLegs(); got != 1 {
		t.Fatalf("%d legs counted re-sent, want 1", got)
	}
	if logged := b.get(t, rec.ID); logged.State != transfer.Done || logged.Outcome != contract.TransferCommitted || logged.Resends != 1 {
		t.Fatalf("logged %+v, want done, committed, one re-send", logged)
	}
}

// TestResendsBackOffDoublingUpToMaxBackoff: a leg that never acknowledges is sent the decision
// again after SendTimeout, then after twice as long each time, and never less often than every
// MaxBackoff.
func TestResendsBackOffDoublingUpToMaxBackoff(t *testing.T) {
	t.Parallel()
	b := newBank(t)
	b.nodes.Drop("bob", 1000)
	b.pay(t, "alice", "bob", "1.00", "r-1")
	for i, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, maxBackoff, maxBackoff, maxBackoff} {
		b.clock.Advance(wait - time.Millisecond)
		if _, resent := b.recover(t); resent != 0 {
			t.Fatalf("re-send %d: due before %v", i+1, wait)
		}
		b.clock.Advance(time.Millisecond)
		if _, resent := b.recover(t); resent != 1 {
			t.Fatalf("re-send %d: not due after %v", i+1, wait)
		}
	}
}

// TestRecoveryOfPaymentsAbortsTheStuckAndResendsToTheLegsThatDidNotAcknowledge: the same two
// duties, for payments, whose legs each acknowledge on their own.
func TestRecoveryOfPaymentsAbortsTheStuckAndResendsToTheLegsThatDidNotAcknowledge(t *testing.T) {
	t.Parallel()
	b := newBank(t)
	ctx := context.Background()
	orphan, _, err := b.store.BeginPayment(ctx, payroll(t, b, "p-orphan"))
	if err != nil {
		t.Fatal(err)
	}
	b.nodes.Drop("shop", 1)
	p, err := b.c.Pay(ctx, payrollRequest("p-1"))
	if err != nil || p.Outcome != contract.TransferCommitted || p.State == transfer.Done {
		t.Fatalf("Pay = %+v, %v; want committed, a leg unacknowledged", p, err)
	}
	b.clock.Advance(b.c.StuckAfter() + time.Nanosecond)
	aborted, resent := b.recover(t)
	if aborted != 1 || resent != 1 {
		t.Fatalf("recovery: %d aborted, %d re-sent; want the orphan aborted and one payment re-sent", aborted, resent)
	}
	if got := b.sentTo(orphan.ID); !slices.Equal(got, []string{"alice:abort", "bob:abort", "shop:abort"}) {
		t.Fatalf("the orphan's decisions %v, want an abort to every leg", got)
	}
	if got := b.sentTo(p.ID); !slices.Equal(got, []string{"alice:commit", "bob:commit", "shop:commit", "shop:commit"}) {
		t.Fatalf("the payment's decisions %v, want the unacknowledged leg's twice", got)
	}
	if got, _ := b.store.GetPayment(ctx, p.ID); got.State != transfer.Done {
		t.Fatalf("payment %+v, want done", got)
	}
}

package pgstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/services/coordinator/transfer"
)

func payroll(id, request string) transfer.Payment {
	return transfer.Payment{ID: id, RequestID: request, Fingerprint: []byte{1}, Currency: "EUR", AmountMinor: 300, State: contract.TransferPreparing,
		Legs: []transfer.PaymentLeg{
			{Name: "debit.1", Account: "boss", Side: contract.SideDebit, Amount: "3.00", AmountMinor: 300},
			{Name: "credit.2", Account: "ann", Side: contract.SideCredit, Amount: "1.00", AmountMinor: 100},
			{Name: "credit.3", Account: "ben", Side: contract.SideCredit, Amount: "2.00", AmountMinor: 200},
		}}
}

// TestAPaymentIsLoggedOncePerRequestAndDecidedOnce logs a payment with its legs, returns it to a
// retry of its request (and refuses one with another body), records one decision with every
// leg's vote (a second decision changes nothing), and is done only once every leg acknowledged.
func TestAPaymentIsLoggedOncePerRequestAndDecidedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	p, created, err := s.BeginPayment(ctx, payroll("p1", "pay-1"))
	if err != nil || !created || len(p.Legs) != 3 || p.Legs[2].Name != "credit.3" || p.State != contract.TransferPreparing {
		t.Fatalf("BeginPayment = %+v, %v, %v", p, created, err)
	}
	if again, created, err := s.BeginPayment(ctx, payroll("p2", "pay-1")); err != nil || created || again.ID != "p1" {
		t.Fatalf("a retry: %+v, %v, %v; want p1, not created", again, created, err)
	}
	other := payroll("p3", "pay-1")
	other.Fingerprint = []byte{2}
	if _, _, err := s.BeginPayment(ctx, other); !errors.Is(err, transfer.ErrConflict) {
		t.Fatalf("another body with the same id: %v, want ErrConflict", err)
	}
	if stuck, err := s.StuckPayments(ctx, time.Now().Add(time.Second), 10); err != nil || len(stuck) != 1 {
		t.Fatalf("StuckPayments = %v, %v; want p1", stuck, err)
	}

	d := transfer.PaymentDecision{Outcome: contract.TransferAborted, Reason: contract.CodeInsufficient, Message: "m", Votes: []string{"no:insufficient_funds", "yes", "yes"}}
	p, err = s.DecidePayment(ctx, "p1", d)
	if err != nil || p.Outcome != contract.TransferAborted || p.Reason != contract.CodeInsufficient || p.Legs[0].Vote != "no:insufficient_funds" || p.Legs[1].Vote != "yes" {
		t.Fatalf("DecidePayment = %+v, %v", p, err)
	}
	if p, err = s.DecidePayment(ctx, "p1", transfer.PaymentDecision{Outcome: contract.TransferCommitted, Votes: []string{"yes", "yes", "yes"}}); err != nil || p.Outcome != contract.TransferAborted || p.Legs[0].Vote != "no:insufficient_funds" {
		t.Fatalf("a second decision: %+v, %v; want the first kept", p, err)
	}

	if err := s.AckedPayment(ctx, "p1", []int{1, 3}, 0); err != nil {
		t.Fatal(err)
	}
	if p, _ = s.GetPayment(ctx, "p1"); p.State != contract.TransferAborted || !p.Legs[0].Acked || p.Legs[1].Acked {
		t.Fatalf("after two acks: %+v", p)
	}
	due, err := s.ClaimPaymentResends(ctx, 10, time.Minute)
	if err != nil || len(due) != 1 || due[0].ID != "p1" {
		t.Fatalf("ClaimPaymentResends = %+v, %v; want p1", due, err)
	}
	if due, _ = s.ClaimPaymentResends(ctx, 10, time.Minute); len(due) != 0 {
		t.Fatalf("claimed twice: %+v", due)
	}
	if err := s.AckedPayment(ctx, "p1", []int{2}, 0); err != nil {
		t.Fatal(err)
	}
	if p, _ = s.GetPayment(ctx, "p1"); p.State != transfer.Done {
		t.Fatalf("after every ack: %+v, want done", p)
	}
	if _, err := s.GetPayment(ctx, "nothing"); !errors.Is(err, transfer.ErrNotFound) {
		t.Fatalf("GetPayment of nothing = %v", err)
	}
}

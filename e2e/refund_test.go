package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/contract/decisionsig"
	"tsbank/services/coordinator/pgstore"
	"tsbank/services/coordinator/transfer"
	"tsbank/testkit"
)

// shopAndAlice is a bank where alice (account-1) has paid shop (account-2) 100.00 of her 100.00
// in the committed transfer it returns.
func shopAndAlice(t *testing.T) (*bank, contract.Transfer) {
	b := startBank(t)
	b.open("alice", "account-1", "EUR")
	b.open("shop", "account-2", "EUR")
	b.deposit("alice", "100.00")
	tr := b.transfer("alice", "buy-1", "shop", "100.00")
	if tr.Status != contract.TransferCommitted {
		t.Fatalf("purchase = %+v", tr)
	}
	return b, tr
}

func (b *bank) refund(payee, id, transferID, amount string) (contract.Transfer, error) {
	return b.c.Refund(ctx(b.t), payee, contract.RefundRequest{ID: id, TransferID: transferID, Amount: amount})
}

func (b *bank) mustRefund(payee, id, transferID, amount string) contract.Transfer {
	b.t.Helper()
	r, err := b.refund(payee, id, transferID, amount)
	if err != nil {
		b.t.Fatalf("refund %s: %v", id, err)
	}
	return r
}

// refunds counts the refund rows of transferID in the coordinator's log.
func (b *bank) refunds(transferID string) int {
	b.t.Helper()
	var n int
	if err := b.pool("coordinator").QueryRow(ctx(b.t), `SELECT count(*) FROM transfers WHERE refund_of = $1`, transferID).Scan(&n); err != nil {
		b.t.Fatal(err)
	}
	return n
}

func TestAFullRefundPaysTheWholeAmountBackAndIsLinkedBothWays(t *testing.T) {
	t.Parallel()
	b, tr := shopAndAlice(t)
	before, _, _, _ := b.ledger()
	r := b.mustRefund("shop", "rf-1", tr.TransferID, "")
	if r.Status != contract.TransferCommitted || r.Amount != "100.00" || r.From != "shop" || r.To != "alice" || r.RefundOf != tr.TransferID || r.ID != "rf-1" {
		t.Fatalf("refund = %+v", r)
	}
	b.settled()
	if a, s := b.balance("alice"), b.balance("shop"); a != "100.00" || s != "0.00" {
		t.Fatalf("balances alice %s, shop %s; want 100.00, 0.00", a, s)
	}
	st, err := b.c.TransferStatus(ctx(t), "alice", "buy-1")
	if err != nil || st.Refunded != "100.00" || st.RefundOf != "" {
		t.Fatalf("original's status = %+v, %v; want refunded 100.00", st, err)
	}
	st, err = b.c.TransferStatus(ctx(t), "shop", "rf-1")
	if err != nil || st.RefundOf != tr.TransferID || st.Status != contract.TransferCommitted {
		t.Fatalf("refund's status = %+v, %v", st, err)
	}
	// Nothing is left: another refund is refused and logs nothing.
	_, err = b.refund("shop", "rf-2", tr.TransferID, "")
	wantCode(t, err, contract.CodeRefundExceeds)
	if n := b.refunds(tr.TransferID); n != 1 {
		t.Fatalf("%d refunds logged, want 1", n)
	}
	if after, _, _, _ := b.ledger(); after != before {
		t.Fatalf("total balance went from %d to %d", before, after)
	}
}

func TestPartialRefundsUpToTheAmountAndNoFurther(t *testing.T) {
	t.Parallel()
	b, tr := shopAndAlice(t)
	if r := b.mustRefund("shop", "rf-1", tr.TransferID, "30"); r.Status != contract.TransferCommitted || r.Amount != "30.00" {
		t.Fatalf("first refund = %+v", r)
	}
	// The original can be named as its payer names it, by the payer and its request id.
	second, err := b.c.Refund(ctx(t), "shop", contract.RefundRequest{ID: "rf-2", Original: &contract.TransferRef{From: "alice", ID: "buy-1"}, Amount: "50.00"})
	if err != nil || second.Status != contract.TransferCommitted || second.Amount != "50.00" || second.RefundOf != tr.TransferID {
		t.Fatalf("second refund = %+v, %v", second, err)
	}
	// 20.00 is left: 20.01 is refused, nothing is logged, and the id stays free for a corrected one.
	_, err = b.refund("shop", "rf-3", tr.TransferID, "20.01")
	wantCode(t, err, contract.CodeRefundExceeds)
	if n := b.refunds(tr.TransferID); n != 2 {
		t.Fatalf("%d refunds logged after a refused one, want 2", n)
	}
	if _, err := b.c.TransferStatus(ctx(t), "shop", "rf-3"); contract.CodeOf(err) != contract.CodeUnknownTransfer {
		t.Fatalf("status of the refused refund: %v, want unknown_transfer", err)
	}
	// The same id with what is left (no amount) is accepted.
	if r := b.mustRefund("shop", "rf-3", tr.TransferID, ""); r.Status != contract.TransferCommitted || r.Amount != "20.00" {
		t.Fatalf("third refund = %+v", r)
	}
	if st, err := b.c.TransferStatus(ctx(t), "alice", "buy-1"); err != nil || st.Refunded != "100.00" {
		t.Fatalf("original's status = %+v, %v", st, err)
	}
	// A retry of a refund that used up the rest returns it; the same id with another body conflicts.
	again, err := b.c.Refund(ctx(t), "shop", contract.RefundRequest{ID: "rf-2", Original: &contract.TransferRef{From: "alice", ID: "buy-1"}, Amount: "50.00"})
	if err != nil || again.TransferID != second.TransferID || again.Status != contract.TransferCommitted {
		t.Fatalf("retry = %+v, %v", again, err)
	}
	_, err = b.refund("shop", "rf-2", tr.TransferID, "40.00")
	wantCode(t, err, contract.CodeConflict)
	b.settled()
	if a, s := b.balance("alice"), b.balance("shop"); a != "100.00" || s != "0.00" {
		t.Fatalf("balances alice %s, shop %s", a, s)
	}
}

func TestARetriedRefundRequestIsAppliedOnce(t *testing.T) {
	t.Parallel()
	b, tr := shopAndAlice(t)
	first := b.mustRefund("shop", "rf-1", tr.TransferID, "10")
	for range 3 {
		again := b.mustRefund("shop", "rf-1", tr.TransferID, "10")
		if again.TransferID != first.TransferID || again.Status != contract.TransferCommitted {
			t.Fatalf("retry = %+v, want %+v", again, first)
		}
	}
	b.settled()
	if a, s := b.balance("alice"), b.balance("shop"); a != "10.00" || s != "90.00" {
		t.Fatalf("balances alice %s, shop %s; want 10.00, 90.00", a, s)
	}
	if n := b.refunds(tr.TransferID); n != 1 {
		t.Fatalf("%d refunds logged, want 1", n)
	}
}

func TestRefundsThatCannotBeAreRefusedBeforeAnythingIsLogged(t *testing.T) {
	t.Parallel()
	b, tr := shopAndAlice(t)
	b.open("mallory", "account-1", "EUR")
	aborted := b.transfer("alice", "buy-2", "shop", "1.00") // alice has nothing left
	if aborted.Status != contract.TransferAborted {
		t.Fatalf("second purchase = %+v, want aborted", aborted)
	}
	r := b.mustRefund("shop", "rf-ok", tr.TransferID, "1")
	cases := []struct {
		name, payee, transferID, amount string
		code                            contract.Code
	}{
		{"an aborted transfer is not refundable", "shop", aborted.TransferID, "", contract.CodeNotRefundable},
		{"an unknown transfer is unknown", "shop", "no-such-transfer", "", contract.CodeUnknownTransfer},
		{"the payer cannot refund", "alice", tr.TransferID, "1", contract.CodeNotRefundable},
		{"another account cannot refund", "mallory", tr.TransferID, "1", contract.CodeNotRefundable},
		{"a refund cannot be refunded", "alice", r.TransferID, "", contract.CodeNotRefundable},
		{"more decimals than the currency has is an invalid amount", "shop", tr.TransferID, "1.001", contract.CodeInvalidAmount},
		{"a zero amount is invalid", "shop", tr.TransferID, "0", contract.CodeInvalidAmount},
		{"no transfer named is a bad request", "shop", "", "1", contract.CodeBadRequest},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.refund(tc.payee, fmt.Sprintf("bad-%d", i), tc.transferID, tc.amount)
			wantCode(t, err, tc.code)
		})
	}
	var logged int
	if err := b.pool("coordinator").QueryRow(ctx(t), `SELECT count(*) FROM transfers WHERE request_id LIKE 'bad-%'`).Scan(&logged); err != nil || logged != 0 {
		t.Fatalf("%d refused refunds logged, %v", logged, err)
	}
	b.settled()
}

// TestConcurrentRefundsNeverPassTheAmount: 20 refunds of 10.00 race for a 100.00 transfer; the
// lock on the original serializes them, so exactly 10 are logged and committed and the rest are
// refused with refund_exceeds.
func TestConcurrentRefundsNeverPassTheAmount(t *testing.T) {
	t.Parallel()
	b, tr := shopAndAlice(t)
	before, _, _, _ := b.ledger()
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	for i := range 20 {
		wg.Go(func() {
			r, err := b.refund("shop", fmt.Sprintf("race-%d", i), tr.TransferID, "10.00")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				outcomes["error "+string(contract.CodeOf(err))]++
			} else {
				outcomes[string(r.Status)]++
			}
		})
	}
	wg.Wait()
	if outcomes[string(contract.TransferCommitted)] != 10 || outcomes["error "+string(contract.CodeRefundExceeds)] != 10 {
		t.Fatalf("outcomes %v, want 10 committed and 10 refund_exceeds", outcomes)
	}
	b.settled()
	if a, s := b.balance("alice"), b.balance("shop"); a != "100.00" || s != "0.00" {
		t.Fatalf("balances alice %s, shop %s", a, s)
	}
	if after, _, _, _ := b.ledger(); after != before {
		t.Fatalf("total balance went from %d to %d", before, after)
	}
}

// TestAnAbortedRefundReleasesItsAmount: the shop has spent the money, so its refund aborts for
// insufficient funds; that refund no longer counts against the cap, and once the shop has the
// money again the whole amount can still be refunded.
func TestAnAbortedRefundReleasesItsAmount(t *testing.T) {
	t.Parallel()
	b, tr := shopAndAlice(t)
	b.open("supplier", "account-1", "EUR")
	if spent := b.transfer("shop", "pay-supplier", "supplier", "100.00"); spent.Status != contract.TransferCommitted {
		t.Fatalf("shop's payment = %+v", spent)
	}
	r := b.mustRefund("shop", "rf-1", tr.TransferID, "")
	if r.Status != contract.TransferAborted || r.Reason != contract.CodeInsufficient || r.RefundOf != tr.TransferID {
		t.Fatalf("refund = %+v, want aborted for insufficient funds", r)
	}
	b.deposit("shop", "100.00")
	if r := b.mustRefund("shop", "rf-2", tr.TransferID, ""); r.Status != contract.TransferCommitted || r.Amount != "100.00" {
		t.Fatalf("refund after the abort = %+v, want all 100.00 committed", r)
	}
	b.settled()
	if a, s := b.balance("alice"), b.balance("shop"); a != "100.00" || s != "0.00" {
		t.Fatalf("balances alice %s, shop %s", a, s)
	}
}

// logRefund logs a refund of original as a coordinator does before preparing it, and returns it.
func (b *bank) logRefund(id, original, payee, amount string) transfer.Transfer {
	b.t.Helper()
	store := pgstore.New(b.pool("coordinator"), time.Second, testkit.Logger(b.t))
	rec, created, err := store.LogRefund(ctx(b.t), transfer.Transfer{ID: id, From: payee, RequestID: "r-" + id, Fingerprint: []byte(id)}, transfer.Original{TransferID: original},
		func(o transfer.Transfer, refunded int64) (transfer.Transfer, error) {
			t, err := transfer.NewRefund(o, refunded, transfer.RefundRequest{From: payee, RequestID: "r-" + id, Fingerprint: []byte(id), Original: transfer.Original{TransferID: original}, Amount: amount})
			t.ID = id
			return t, err
		})
	if err != nil || !created {
		b.t.Fatalf("log refund %s: %v", id, err)
	}
	return rec
}

// prepareRefundLeg sends the prepare of leg of refund id (of original) to account's node, signed
// as the coordinator does, and wants a yes.
func (b *bank) prepareRefundLeg(node, account, counterparty, id, leg, amount, original string) {
	b.t.Helper()
	req := contract.PrepareRequest{TransferID: id, Leg: leg, Amount: amount, Counterparty: counterparty, RefundOf: original}
	req.Sig = b.sign(decisionsig.Prepare(account, req))
	var v contract.Vote
	if err := b.c.Call(ctx(b.t), contract.NodeAccountSubject(node, account, contract.OpPrepare), req, &v); err != nil || !v.Yes {
		b.t.Fatalf("prepare %s %s: %+v, %v", id, leg, v, err)
	}
}

// TestCoordinatorDeadMidRefundIsFinishedByRecovery stops the coordinator once a refund is logged
// (and, for the second, prepared and decided but not sent): the restarted coordinator aborts the
// undecided one (presumed abort; its amount is released) and commits the decided one.
func TestCoordinatorDeadMidRefundIsFinishedByRecovery(t *testing.T) {
	t.Parallel()
	b, tr := shopAndAlice(t)
	b.settled()
	b.coord.Stop(5 * time.Second)
	b.logRefund("rx1", tr.TransferID, "shop", "40.00")
	b.logRefund("rx2", tr.TransferID, "shop", "60.00")
	// rx2 was prepared on both legs and decided before the crash; rx1 never got past its log row.
	b.prepareRefundLeg("account-2", "shop", "alice", "rx2", "debit", "60.00", tr.TransferID)
	b.prepareRefundLeg("account-1", "alice", "shop", "rx2", "credit", "60.00", tr.TransferID)
	b.decide("rx2", contract.TransferCommitted)
	b.startCoordinator()
	b.settled()
	if _, outcome := b.logState("rx1"); outcome != contract.TransferAborted {
		t.Fatalf("rx1 is %s, want aborted", outcome)
	}
	if _, outcome := b.logState("rx2"); outcome != contract.TransferCommitted {
		t.Fatalf("rx2 is %s, want committed", outcome)
	}
	if a, s := b.balance("alice"), b.balance("shop"); a != "60.00" || s != "40.00" {
		t.Fatalf("balances alice %s, shop %s; want 60.00, 40.00", a, s)
	}
	// rx1's 40.00 is free again.
	if r := b.mustRefund("shop", "rf-rest", tr.TransferID, ""); r.Status != contract.TransferCommitted || r.Amount != "40.00" {
		t.Fatalf("refund of the rest = %+v", r)
	}
	if st, err := b.c.TransferStatus(ctx(t), "alice", "buy-1"); err != nil || st.Refunded != "100.00" {
		t.Fatalf("original's status = %+v, %v", st, err)
	}
}

// TestTheHistoryLinksARefundAndItsOriginalBothWays: each row of a refund names the original in
// refund_of, and the original's rows show, on each account, what its committed refunds moved
// back (an aborted refund moves nothing and shows nothing).
func TestTheHistoryLinksARefundAndItsOriginalBothWays(t *testing.T) {
	t.Parallel()
	b, tr := shopAndAlice(t)
	b.startHistory()
	r1 := b.mustRefund("shop", "rf-1", tr.TransferID, "30.00")
	r2 := b.mustRefund("shop", "rf-2", tr.TransferID, "20.00")
	if r1.Status != contract.TransferCommitted || r2.Status != contract.TransferCommitted {
		t.Fatalf("refunds %+v, %+v", r1, r2)
	}
	b.settled()
	// deposit, purchase (two legs), two refunds (two legs each)
	if n := b.historyMatchesOutboxes(); n != 7 {
		t.Fatalf("%d events in the history, want 7", n)
	}
	for _, acc := range []struct{ account, original, refund string }{
		{"alice", "-100.00", "30.00"}, {"shop", "100.00", "-30.00"},
	} {
		var page contract.HistoryPage
		if err := b.c.Call(ctx(t), contract.HistorySubject(acc.account, "query"), contract.HistoryQuery{}, &page); err != nil {
			t.Fatal(err)
		}
		refunds := 0
		for _, row := range page.Rows {
			switch row.TransferID {
			case tr.TransferID:
				if row.Amount != acc.original || row.Refunded != "50.00" || row.RefundOf != "" {
					t.Fatalf("%s's row of the original = %+v, want refunded 50.00", acc.account, row)
				}
			case r1.TransferID, r2.TransferID:
				refunds++
				if row.RefundOf != tr.TransferID || row.Refunded != "" {
					t.Fatalf("%s's row of a refund = %+v, want refund_of %s", acc.account, row, tr.TransferID)
				}
				if row.TransferID == r1.TransferID && row.Amount != acc.refund {
					t.Fatalf("%s's row of the first refund = %+v, want %s", acc.account, row, acc.refund)
				}
			}
		}
		if refunds != 2 {
			t.Fatalf("%s has %d refund rows, want 2: %+v", acc.account, refunds, page.Rows)
		}
	}
	// In SQL too: the history database links them by refund_of.
	var linked int
	if err := b.pool("history").QueryRow(ctx(t), `SELECT count(*) FROM transactions WHERE refund_of = $1`, tr.TransferID).Scan(&linked); err != nil || linked != 4 {
		t.Fatalf("%d history rows with refund_of, %v; want 4", linked, err)
	}
	b.reconciled()
}

// TestANodeDeadMidRefundCommitsWhenItIsBack: the payer's node dies after voting yes on its leg of
// a refund; the decision (commit) reaches the payee's leg at once and the payer's once its node is
// back, and the payer's event of the refund still names the original (refund_of kept on the hold
// across the restart).
func TestANodeDeadMidRefundCommitsWhenItIsBack(t *testing.T) {
	t.Parallel()
	b, tr := shopAndAlice(t)
	b.settled()
	b.coord.Stop(5 * time.Second)
	b.logRefund("rn1", tr.TransferID, "shop", "25.00")
	b.prepareRefundLeg("account-2", "shop", "alice", "rn1", "debit", "25.00", tr.TransferID)
	b.prepareRefundLeg("account-1", "alice", "shop", "rn1", "credit", "25.00", tr.TransferID)
	b.stopNode("account-1") // dies after voting yes
	b.decide("rn1", contract.TransferCommitted)
	b.startCoordinator()
	testkit.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if got := b.legState("account-2", "rn1", "debit"); got != "committed" {
			return fmt.Errorf("debit leg %q", got)
		}
		return nil
	})
	b.startNode("account-1")
	b.settled()
	if a, s := b.balance("alice"), b.balance("shop"); a != "25.00" || s != "75.00" {
		t.Fatalf("balances alice %s, shop %s; want 25.00, 75.00", a, s)
	}
	var refundOf string
	if err := b.pool("account-1").QueryRow(ctx(t), `SELECT payload->>'refund_of' FROM outbox WHERE payload->>'transfer_id' = 'rn1'`).Scan(&refundOf); err != nil || refundOf != tr.TransferID {
		t.Fatalf("alice's event of the refund has refund_of %q, %v; want %s", refundOf, err, tr.TransferID)
	}
	if st, err := b.c.TransferStatus(ctx(t), "alice", "buy-1"); err != nil || st.Refunded != "25.00" {
		t.Fatalf("original's status = %+v, %v", st, err)
	}
}

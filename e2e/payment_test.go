package e2e

import (
	"fmt"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/contract/decisionsig"
	"tsbank/contract/money"
	"tsbank/services/coordinator/pgstore"
	"tsbank/services/coordinator/transfer"
	"tsbank/testkit"
)

// payrollBank is a bank where boss (account-1, 100.00) pays ann (account-1), ben and cy (account-2).
func payrollBank(t *testing.T) *bank {
	b := startBank(t)
	b.open("boss", "account-1", "EUR")
	b.open("ann", "account-1", "EUR")
	b.open("ben", "account-2", "EUR")
	b.open("cy", "account-2", "EUR")
	b.deposit("boss", "100.00")
	return b
}

func debit(account, amount string) contract.PaymentLegSpec {
	return contract.PaymentLegSpec{Account: account, Amount: amount, Side: contract.SideDebit}
}

func credit(account, amount string) contract.PaymentLegSpec {
	return contract.PaymentLegSpec{Account: account, Amount: amount, Side: contract.SideCredit}
}

func (b *bank) pay(id string, legs ...contract.PaymentLegSpec) (contract.Payment, error) {
	return b.c.Pay(ctx(b.t), contract.PaymentRequest{ID: id, Legs: legs, Description: "payment " + id})
}

func (b *bank) mustPay(id string, legs ...contract.PaymentLegSpec) contract.Payment {
	b.t.Helper()
	p, err := b.pay(id, legs...)
	if err != nil {
		b.t.Fatalf("payment %s: %v", id, err)
	}
	return p
}

func (b *bank) balances(t *testing.T, want map[string]string) {
	t.Helper()
	for id, w := range want {
		if got := b.balance(id); got != w {
			t.Errorf("balance of %s = %s, want %s", id, got, w)
		}
	}
}

func TestAPayrollPaysEveryPayeeOnBothNodesAtOnce(t *testing.T) {
	t.Parallel()
	b := payrollBank(t)
	b.startHistory()
	before, _, _, _ := b.ledger()
	p := b.mustPay("payroll-1", debit("boss", "60"), credit("ann", "10.00"), credit("ben", "20.00"), credit("cy", "30.00"))
	if p.Status != contract.TransferCommitted || p.Amount != "60.00" || p.Currency != "EUR" || p.ID != "payroll-1" || len(p.Legs) != 4 {
		t.Fatalf("payment = %+v", p)
	}
	for i, l := range p.Legs {
		if l.Vote != "yes" || l.Leg != fmt.Sprintf("%s.%d", l.Side, i+1) {
			t.Errorf("leg %d = %+v, want a yes named %s.%d", i, l, l.Side, i+1)
		}
	}
	b.settled()
	b.balances(t, map[string]string{"boss": "40.00", "ann": "10.00", "ben": "20.00", "cy": "30.00"})
	if after, _, _, _ := b.ledger(); after != before {
		t.Fatalf("total balance went from %d to %d", before, after)
	}
	if st, err := b.c.PaymentStatus(ctx(t), "payroll-1"); err != nil || st.Status != contract.TransferCommitted || !st.Done || st.PaymentID != p.PaymentID {
		t.Fatalf("status = %+v, %v", st, err)
	}

	// Each leg's event is a transfer_out or transfer_in with the payment's id as its transfer_id;
	// the counterparty is the other side's only account (boss for each payee), and none for
	// boss, who paid three.
	if n := b.historyMatchesOutboxes(); n != 5 {
		t.Fatalf("%d events in the history, want 5 (a deposit and four legs)", n)
	}
	for _, want := range []struct{ account, typ, amount, counterparty string }{
		{"boss", "transfer_out", "-60.00", ""}, {"ann", "transfer_in", "10.00", "boss"},
		{"ben", "transfer_in", "20.00", "boss"}, {"cy", "transfer_in", "30.00", "boss"},
	} {
		var page contract.HistoryPage
		if err := b.c.Call(ctx(t), contract.HistorySubject(want.account, "query"), contract.HistoryQuery{}, &page); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, row := range page.Rows {
			if row.TransferID != p.PaymentID {
				continue
			}
			found = true
			if row.Type != want.typ || row.Amount != want.amount || row.Counterparty != want.counterparty {
				t.Errorf("%s's row of the payment = %+v, want %s %s counterparty %q", want.account, row, want.typ, want.amount, want.counterparty)
			}
		}
		if !found {
			t.Errorf("%s has no row of the payment: %+v", want.account, page.Rows)
		}
	}
	b.reconciled()
}

func TestABillSplitCollectsFromEveryPayerAtOnce(t *testing.T) {
	t.Parallel()
	b := payrollBank(t)
	b.deposit("ben", "50.00")
	b.deposit("cy", "50.00")
	p := b.mustPay("split-1", debit("boss", "25.50"), debit("ben", "25.50"), debit("cy", "25"), credit("ann", "76.00"))
	if p.Status != contract.TransferCommitted || p.Amount != "76.00" {
		t.Fatalf("payment = %+v", p)
	}
	b.settled()
	b.balances(t, map[string]string{"boss": "74.50", "ben": "24.50", "cy": "25.00", "ann": "76.00"})
}

func TestALegThatRefusesAbortsThePaymentWithItsReasonAndMovesNothing(t *testing.T) {
	t.Parallel()
	b := payrollBank(t)
	b.deposit("ben", "5.00")
	p := b.mustPay("split-poor", debit("boss", "10.00"), debit("ben", "10.00"), credit("cy", "20.00"))
	if p.Status != contract.TransferAborted || p.Reason != contract.CodeInsufficient || p.Message == "" {
		t.Fatalf("payment = %+v, want aborted with insufficient_funds", p)
	}
	if p.Legs[0].Vote != "yes" || p.Legs[1].Vote != "no:insufficient_funds" || p.Legs[2].Vote != "yes" {
		t.Fatalf("votes = %+v", p.Legs)
	}
	b.settled()
	b.balances(t, map[string]string{"boss": "100.00", "ben": "5.00", "cy": "0.00"})
	for _, l := range p.Legs {
		node := map[string]string{"boss": "account-1", "ben": "account-2", "cy": "account-2"}[l.Account]
		if got := b.legState(node, p.PaymentID, l.Leg); got != "aborted" {
			t.Errorf("leg %s on %s is %q, want aborted", l.Leg, node, got)
		}
	}
}

func TestInvalidPaymentsAreRefusedBeforeAnythingIsLogged(t *testing.T) {
	t.Parallel()
	b := payrollBank(t)
	b.open("usd", "account-2", "USD")
	seventeen := make([]contract.PaymentLegSpec, 17)
	for i := range seventeen {
		seventeen[i] = credit(fmt.Sprint("x", i), "1")
	}
	for _, tc := range []struct {
		name string
		legs []contract.PaymentLegSpec
		code contract.Code
	}{
		{"one leg is refused", []contract.PaymentLegSpec{debit("boss", "1")}, contract.CodeInvalidPayment},
		{"seventeen legs are refused", seventeen, contract.CodeInvalidPayment},
		{"an account twice is refused", []contract.PaymentLegSpec{debit("boss", "1"), credit("boss", "1")}, contract.CodeInvalidPayment},
		{"unbalanced legs are refused", []contract.PaymentLegSpec{debit("boss", "2"), credit("ann", "1")}, contract.CodeInvalidPayment},
		{"no credit is refused", []contract.PaymentLegSpec{debit("boss", "1"), debit("ann", "1")}, contract.CodeInvalidPayment},
		{"an unknown side is refused", []contract.PaymentLegSpec{debit("boss", "1"), {Account: "ann", Amount: "1", Side: "both"}}, contract.CodeInvalidPayment},
		{"two currencies are refused", []contract.PaymentLegSpec{debit("boss", "1"), credit("usd", "1")}, contract.CodeCurrencyMismatch},
		{"a missing account is refused", []contract.PaymentLegSpec{debit("boss", "1"), credit("nobody", "1")}, contract.CodeAccountNotFound},
		{"a bad amount is refused", []contract.PaymentLegSpec{debit("boss", "1.001"), credit("ann", "1.001")}, contract.CodeInvalidAmount},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.pay("bad-1", tc.legs...)
			wantCode(t, err, tc.code)
		})
	}
	var logged int
	if err := b.pool("coordinator").QueryRow(ctx(t), `SELECT count(*) FROM payments`).Scan(&logged); err != nil || logged != 0 {
		t.Fatalf("%d payments logged, %v; want none", logged, err)
	}
	// The id is still free.
	if p := b.mustPay("bad-1", debit("boss", "1"), credit("ann", "1")); p.Status != contract.TransferCommitted {
		t.Fatalf("corrected payment = %+v", p)
	}
}

func TestARetriedPaymentIsAppliedOnce(t *testing.T) {
	t.Parallel()
	b := payrollBank(t)
	first := b.mustPay("p-1", debit("boss", "30"), credit("ann", "10"), credit("ben", "20"))
	again := b.mustPay("p-1", debit("boss", "30"), credit("ann", "10"), credit("ben", "20"))
	if again.PaymentID != first.PaymentID || again.Status != contract.TransferCommitted {
		t.Fatalf("retry = %+v, first %+v", again, first)
	}
	_, err := b.pay("p-1", debit("boss", "30"), credit("ann", "20"), credit("ben", "10"))
	wantCode(t, err, contract.CodeConflict)
	_, err = b.c.PaymentStatus(ctx(t), "p-none")
	wantCode(t, err, contract.CodeUnknownPayment)
	b.settled()
	b.balances(t, map[string]string{"boss": "70.00", "ann": "10.00", "ben": "20.00"})
}

// logPayment logs a payment as a coordinator does before preparing it, and returns it.
func (b *bank) logPayment(id string, legs ...transfer.LegRequest) transfer.Payment {
	b.t.Helper()
	p, err := transfer.NewPayment(transfer.PaymentRequest{RequestID: "r-" + id, Fingerprint: []byte(id), Legs: legs},
		func(string) (money.Currency, error) { return money.LookupCurrency("EUR") })
	if err != nil {
		b.t.Fatal(err)
	}
	p.ID = id
	rec, created, err := pgstore.New(b.pool("coordinator"), time.Second, testkit.Logger(b.t)).BeginPayment(ctx(b.t), p)
	if err != nil || !created {
		b.t.Fatalf("log payment %s: %v", id, err)
	}
	return rec
}

// preparePaymentLeg sends the prepare of leg l of payment p to node, signed as the coordinator
// does, and wants a yes.
func (b *bank) preparePaymentLeg(node string, p transfer.Payment, l transfer.PaymentLeg) {
	b.t.Helper()
	req := contract.PrepareRequest{TransferID: p.ID, Leg: l.Name, Amount: l.Amount, Counterparty: p.Counterparty(l)}
	req.Sig = b.sign(decisionsig.Prepare(l.Account, req))
	var v contract.Vote
	if err := b.c.Call(ctx(b.t), contract.NodeAccountSubject(node, l.Account, contract.OpPrepare), req, &v); err != nil || !v.Yes {
		b.t.Fatalf("prepare %s %s: %+v, %v", p.ID, l.Name, v, err)
	}
}

func (b *bank) decidePayment(id string, outcome contract.TransferState, legs int) {
	b.t.Helper()
	votes := make([]string, legs)
	for i := range votes {
		votes[i] = "yes"
	}
	if _, err := pgstore.New(b.pool("coordinator"), 0, testkit.Logger(b.t)).DecidePayment(ctx(b.t), id, transfer.PaymentDecision{Outcome: outcome, Votes: votes}); err != nil {
		b.t.Fatal(err)
	}
}

func (b *bank) paymentOutcome(id string) contract.TransferState {
	b.t.Helper()
	var outcome contract.TransferState
	if err := b.pool("coordinator").QueryRow(ctx(b.t), `SELECT coalesce(outcome, '') FROM payments WHERE payment_id = $1`, id).Scan(&outcome); err != nil {
		b.t.Fatal(err)
	}
	return outcome
}

var payrollLegs = []transfer.LegRequest{
	{Account: "boss", Side: contract.SideDebit, Amount: "30.00"},
	{Account: "ann", Side: contract.SideCredit, Amount: "10.00"},
	{Account: "ben", Side: contract.SideCredit, Amount: "20.00"},
}

var payrollNodes = []string{"account-1", "account-1", "account-2"}

// TestCoordinatorDeadMidPaymentIsFinishedByRecovery stops the coordinator with two payments in
// its log: px1 logged and every leg prepared but never decided, px2 prepared and decided
// (commit) but never sent. The restarted coordinator aborts px1 (presumed abort: its holds are
// released) and delivers px2's commit to every leg.
func TestCoordinatorDeadMidPaymentIsFinishedByRecovery(t *testing.T) {
	t.Parallel()
	b := payrollBank(t)
	b.coord.Stop(5 * time.Second)
	px1 := b.logPayment("px1", payrollLegs...)
	px2 := b.logPayment("px2", payrollLegs...)
	for i := range px1.Legs {
		b.preparePaymentLeg(payrollNodes[i], px1, px1.Legs[i])
		b.preparePaymentLeg(payrollNodes[i], px2, px2.Legs[i])
	}
	b.decidePayment("px2", contract.TransferCommitted, len(px2.Legs))
	b.startCoordinator()
	b.settled()
	if got := b.paymentOutcome("px1"); got != contract.TransferAborted {
		t.Fatalf("px1 is %s, want aborted", got)
	}
	if got := b.paymentOutcome("px2"); got != contract.TransferCommitted {
		t.Fatalf("px2 is %s, want committed", got)
	}
	b.balances(t, map[string]string{"boss": "70.00", "ann": "10.00", "ben": "20.00"})
}

// TestANodeDeadMidPaymentCommitsWhenItIsBack: account-2 dies after its leg voted yes; the
// commit reaches account-1's legs at once and account-2's once it is back (by the coordinator's
// re-send or the node's own decision query, both of which must know payment legs).
func TestANodeDeadMidPaymentCommitsWhenItIsBack(t *testing.T) {
	t.Parallel()
	b := payrollBank(t)
	b.coord.Stop(5 * time.Second)
	p := b.logPayment("pn1", payrollLegs...)
	for i := range p.Legs {
		b.preparePaymentLeg(payrollNodes[i], p, p.Legs[i])
	}
	b.stopNode("account-2")
	b.decidePayment("pn1", contract.TransferCommitted, len(p.Legs))
	b.startCoordinator()
	testkit.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		for _, leg := range []string{"debit.1", "credit.2"} {
			if got := b.legState("account-1", "pn1", leg); got != "committed" {
				return fmt.Errorf("leg %s %q", leg, got)
			}
		}
		return nil
	})
	// Meanwhile the operator sees it in doubt, with ben's leg the one not acknowledged.
	l, err := b.c.PendingTransfers(ctx(t))
	if err != nil || len(l.Payments) != 1 || l.Payments[0].PaymentID != "pn1" || l.Payments[0].Status != contract.TransferCommitted || l.Payments[0].Legs[2].Acked {
		t.Fatalf("pending = %+v, %v; want pn1 committed, ben's leg not acknowledged", l, err)
	}
	b.startNode("account-2")
	b.settled()
	b.balances(t, map[string]string{"boss": "70.00", "ann": "10.00", "ben": "20.00"})
	if l, err := b.c.PendingTransfers(ctx(t)); err != nil || len(l.Payments) != 0 {
		t.Fatalf("pending once settled = %+v, %v; want no payment", l, err)
	}
}

// TestTheDecisionQueryAnswersForAPaymentsLegs: a node that holds a payment's leg too long asks
// the coordinator by the payment's id and the leg's name; the answer must be the payment's
// outcome, signed for that leg, and not the presumed abort of an id it has no transfer for.
func TestTheDecisionQueryAnswersForAPaymentsLegs(t *testing.T) {
	t.Parallel()
	b := payrollBank(t)
	p := b.mustPay("p-q", debit("boss", "30"), credit("ann", "10"), credit("ben", "20"))
	if p.Status != contract.TransferCommitted {
		t.Fatalf("payment = %+v", p)
	}
	for _, l := range p.Legs {
		var d contract.Decision
		if err := b.c.Call(ctx(t), contract.SubjectDecision, contract.DecisionRequest{TransferID: p.PaymentID, Leg: l.Leg, Account: l.Account}, &d); err != nil {
			t.Fatal(err)
		}
		if d.Outcome != contract.TransferCommitted || d.Sig != b.sign(decisionsig.Outcome(l.Account, l.Leg, d)) {
			t.Fatalf("decision for %s = %+v, want committed and signed for that leg", l.Leg, d)
		}
	}
	var d contract.Decision
	err := b.c.Call(ctx(t), contract.SubjectDecision, contract.DecisionRequest{TransferID: p.PaymentID, Leg: "debit.17", Account: "boss"}, &d)
	wantCode(t, err, contract.CodeBadRequest)
}

// TestAnOperatorResolvesAStuckPaymentByItsID: bank.transfers.resolve given a payment's id aborts
// it if undecided (its legs' holds are released) and answers the payment.
func TestAnOperatorResolvesAStuckPaymentByItsID(t *testing.T) {
	t.Parallel()
	b := payrollBank(t)
	b.coord.Stop(5 * time.Second)
	p := b.logPayment("pr1", payrollLegs...)
	for i := range p.Legs {
		b.preparePaymentLeg(payrollNodes[i], p, p.Legs[i])
	}
	b.startCoordinator()
	var got contract.Payment
	if err := b.c.Call(ctx(t), contract.SubjectTransfersResolve, contract.ResolveRequest{TransferID: "pr1"}, &got); err != nil {
		t.Fatal(err)
	}
	if got.PaymentID != "pr1" || got.Status != contract.TransferAborted || len(got.Legs) != 3 {
		t.Fatalf("resolve = %+v, want pr1 aborted", got)
	}
	b.settled()
	b.balances(t, map[string]string{"boss": "100.00", "ann": "0.00", "ben": "0.00"})
}

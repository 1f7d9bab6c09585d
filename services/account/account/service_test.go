package account_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/contract/money"
	"tsbank/services/account/account"
	"tsbank/services/account/account/accounttest"
	"tsbank/services/account/account/memstore"
)

// The use cases of one node, on the store in memory and a clock that moves when told: no
// Postgres, no NATS, so they run in the fast tier. accounttest.TestStore holds pgstore to what
// they rely on of the store.

var eur = money.Currency{Code: "EUR", Exponent: 2}

type node struct {
	svc   *account.Service
	store *memstore.Store
	clock *accounttest.Clock
	woken int // calls of Changed, which wakes the outbox relay
}

func newNode(t *testing.T, ids ...string) *node {
	t.Helper()
	n := &node{store: memstore.New("account-1"), clock: accounttest.NewClock()}
	n.svc = accounttest.NewService(t, "account-1", n.store, n.clock, ids...)
	n.svc.Changed = func() { n.woken++ }
	return n
}

var ctx = context.Background()

func (n *node) get(t *testing.T, id string) account.Account {
	t.Helper()
	a, err := n.store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestOpenRegistersTheAccountAndAnswersARetryWithItsFirstReply(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	opened := n.clock.Now()
	first, err := n.svc.Open(ctx, "alice", "o-1", eur)
	if err != nil || first.Account.Node != "account-1" || first.Account.Status != account.StatusOpen ||
		!first.Account.OpenedAt.Equal(opened) || first.Account.OverdraftLimit != 0 {
		t.Fatalf("open = %+v, %v", first, err)
	}
	n.clock.Advance(time.Hour)
	if again, err := n.svc.Open(ctx, "alice", "o-1", eur); err != nil || !again.Account.OpenedAt.Equal(opened) {
		t.Fatalf("retried open = %+v, %v; want the first reply", again, err)
	}
	if _, err := n.svc.Open(ctx, "alice", "o-1", money.Currency{Code: "USD", Exponent: 2}); !errors.Is(err, account.ErrConflict) {
		t.Fatalf("the open's id with another currency = %v, want ErrConflict", err)
	}
	if _, err := n.svc.Open(ctx, "alice", "o-2", eur); !errors.Is(err, account.ErrExists) {
		t.Fatalf("another open of the id = %v, want ErrExists", err)
	}
}

func TestAnOpenOfAnIDAnotherNodeOwnsIsRefused(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	reg := &memstore.Registry{}
	if _, err := reg.Register(ctx, "alice", "account-2"); err != nil {
		t.Fatal(err)
	}
	n.svc.Registry = reg
	if _, err := n.svc.Open(ctx, "alice", "o-1", eur); !errors.Is(err, account.ErrExists) || !strings.Contains(err.Error(), "account-2") {
		t.Fatalf("open = %v, want ErrExists naming account-2", err)
	}
	if _, err := n.store.Get(ctx, "alice"); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("the refused open stored the account: %v", err)
	}
}

func TestDepositsAndWithdrawalsWriteNumberedEventsAtTheClocksTime(t *testing.T) {
	t.Parallel()
	n := newNode(t, "alice")
	at := n.clock.Now()
	d, err := n.svc.Deposit(ctx, "alice", "d-1", "100.00", "salary")
	if err != nil || d.Account.Balance != 10000 || d.Event == nil {
		t.Fatalf("deposit = %+v, %v", d, err)
	}
	if ev := *d.Event; ev.Type != contract.EventDeposit || ev.Amount != 10000 || ev.BalanceAfter != 10000 || ev.Seq != 1 ||
		!ev.Time.Equal(at) || ev.Description != "salary" || ev.RequestID != "d-1" || ev.Node != "account-1" || ev.Currency != "EUR" {
		t.Fatalf("deposit event = %+v", ev)
	}
	n.clock.Advance(time.Minute)
	w, err := n.svc.Withdraw(ctx, "alice", "w-1", "30.50", "")
	if err != nil || w.Account.Balance != 6950 || w.Event.Type != contract.EventWithdrawal || w.Event.Amount != -3050 ||
		w.Event.Seq != 2 || !w.Event.Time.Equal(at.Add(time.Minute)) {
		t.Fatalf("withdraw = %+v, %v", w, err)
	}
	if _, err := n.svc.Withdraw(ctx, "alice", "w-2", "69.51", ""); !errors.Is(err, account.ErrInsufficientFunds) {
		t.Fatalf("withdraw beyond the balance = %v, want ErrInsufficientFunds", err)
	}
	if _, err := n.svc.Deposit(ctx, "alice", "d-2", "1.001", ""); !errors.As(err, new(*money.ParseError)) {
		t.Fatalf("deposit of too many decimals = %v, want a money.ParseError", err)
	}
	if a := n.get(t, "alice"); a.Balance != 6950 || a.EventSeq != 2 {
		t.Fatalf("alice = %+v; the refusals changed it", a)
	}
	if out := n.store.Outbox(); len(out) != 2 || out[0].Seq != 1 || out[1].Seq != 2 {
		t.Fatalf("outbox = %+v, want the two events, numbered 1 and 2", out)
	}
	if n.woken != 2 {
		t.Fatalf("the relay was woken %d times, want once per event", n.woken)
	}
	if _, err := n.svc.Deposit(ctx, "nobody", "d-1", "1.00", ""); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("deposit into an unknown account = %v, want ErrNotFound", err)
	}
}

func TestARetryGetsItsFirstReplyAndAReusedIDIsAConflict(t *testing.T) {
	t.Parallel()
	n := newNode(t, "alice", "bob")
	first, err := n.svc.Deposit(ctx, "alice", "d-1", "10.00", "")
	if err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(time.Minute)
	again, err := n.svc.Deposit(ctx, "alice", "d-1", "10.00", "")
	if err != nil || again.Event.ID != first.Event.ID || !again.Event.Time.Equal(first.Event.Time) || again.Account.Balance != 1000 {
		t.Fatalf("retry = %+v, %v; want the first reply %+v", again, err, first)
	}
	for name, err := range map[string]error{
		"another amount":      func() error { _, err := n.svc.Deposit(ctx, "alice", "d-1", "11.00", ""); return err }(),
		"a withdrawal":        func() error { _, err := n.svc.Withdraw(ctx, "alice", "d-1", "10.00", ""); return err }(),
		"another limit":       func() error { _, err := n.svc.SetLimit(ctx, "alice", "d-1", "10.00"); return err }(),
		"another description": func() error { _, err := n.svc.Deposit(ctx, "alice", "d-1", "10.00", "gift"); return err }(),
	} {
		if !errors.Is(err, account.ErrConflict) {
			t.Errorf("d-1 reused for %s: %v, want ErrConflict", name, err)
		}
	}
	if _, err := n.svc.Deposit(ctx, "bob", "d-1", "10.00", ""); err != nil {
		t.Fatalf("bob's own d-1: %v (keys are per account)", err)
	}
	if a := n.get(t, "alice"); a.Balance != 1000 || a.EventSeq != 1 {
		t.Fatalf("alice = %+v; want one deposit", a)
	}
}

func TestALimitWritesNoEventAndACloseNeedsAnEmptyAccount(t *testing.T) {
	t.Parallel()
	n := newNode(t, "alice")
	l, err := n.svc.SetLimit(ctx, "alice", "l-1", "50.00")
	if err != nil || l.Account.OverdraftLimit != 5000 || l.Event != nil {
		t.Fatalf("limit = %+v, %v", l, err)
	}
	if _, err := n.svc.SetLimit(ctx, "alice", "l-2", "-1.00"); !errors.As(err, new(*money.ParseError)) {
		t.Fatalf("a negative limit = %v, want a money.ParseError", err)
	}
	if _, err := n.svc.Withdraw(ctx, "alice", "w-1", "50.00", ""); err != nil {
		t.Fatalf("a withdrawal within the overdraft: %v", err)
	}
	if _, err := n.svc.Close(ctx, "alice", "c-1"); !errors.Is(err, account.ErrNotEmpty) {
		t.Fatalf("close of an overdrawn account = %v, want ErrNotEmpty", err)
	}
	if _, err := n.svc.Deposit(ctx, "alice", "d-1", "50.00", ""); err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(time.Hour)
	closed, err := n.svc.Close(ctx, "alice", "c-2")
	if err != nil || closed.Account.Status != account.StatusClosed || closed.Account.ClosedAt == nil ||
		!closed.Account.ClosedAt.Equal(n.clock.Now()) || closed.Event != nil {
		t.Fatalf("close = %+v, %v", closed, err)
	}
	if again, err := n.svc.Close(ctx, "alice", "c-2"); err != nil || again.Account.Status != account.StatusClosed {
		t.Fatalf("retried close = %+v, %v", again, err)
	}
	if _, err := n.svc.Close(ctx, "alice", "c-3"); !errors.Is(err, account.ErrClosed) {
		t.Fatalf("a second close = %v, want ErrClosed", err)
	}
	if _, err := n.svc.Deposit(ctx, "alice", "d-2", "1.00", ""); !errors.Is(err, account.ErrClosed) {
		t.Fatalf("deposit into a closed account = %v, want ErrClosed", err)
	}
	if len(n.store.Outbox()) != 2 {
		t.Fatalf("outbox = %+v, want the withdrawal and the deposit only", n.store.Outbox())
	}
}

func TestAPreparedDebitIsHeldUntilItsDecision(t *testing.T) {
	t.Parallel()
	n := newNode(t, "alice")
	if _, err := n.svc.Deposit(ctx, "alice", "d-1", "100.00", ""); err != nil {
		t.Fatal(err)
	}
	h, err := n.svc.Prepare(ctx, "alice", "t1", contract.LegDebit, "30.00", "bob", "rent")
	if err != nil || h.State != contract.HoldPrepared || h.Amount != 3000 || !h.CreatedAt.Equal(n.clock.Now()) {
		t.Fatalf("prepare = %+v, %v", h, err)
	}
	if a := n.get(t, "alice"); a.OnHold != 3000 || a.Available() != 7000 || a.Balance != 10000 {
		t.Fatalf("after prepare alice = %+v", a)
	}
	if _, err := n.svc.Withdraw(ctx, "alice", "w-1", "70.01", ""); !errors.Is(err, account.ErrInsufficientFunds) {
		t.Fatalf("a withdrawal of the held money = %v, want ErrInsufficientFunds", err)
	}
	n.clock.Advance(time.Second)
	woken := n.woken
	h, err = n.svc.Commit(ctx, "alice", "t1", contract.LegDebit)
	if err != nil || h.State != contract.HoldCommitted {
		t.Fatalf("commit = %+v, %v", h, err)
	}
	if a := n.get(t, "alice"); a.OnHold != 0 || a.Balance != 7000 || a.EventSeq != 2 {
		t.Fatalf("after commit alice = %+v", a)
	}
	out := n.store.Outbox()
	if ev := out[len(out)-1]; ev.Type != contract.EventTransferOut || ev.Amount != -3000 || ev.BalanceAfter != 7000 || ev.Seq != 2 ||
		ev.TransferID != "t1" || ev.Counterparty != "bob" || ev.Description != "rent" || !ev.Time.Equal(n.clock.Now()) {
		t.Fatalf("commit event = %+v", ev)
	}
	if n.woken != woken+1 {
		t.Fatal("a commit did not wake the outbox relay")
	}
	if h, err := n.svc.Commit(ctx, "alice", "t1", contract.LegDebit); err != nil || h.State != contract.HoldCommitted || len(n.store.Outbox()) != len(out) {
		t.Fatalf("a repeated commit = %+v, %v; want committed, no second event", h, err)
	}
	if _, err := n.svc.Abort(ctx, "alice", "t1", contract.LegDebit); !errors.Is(err, account.ErrDecisionConflict) {
		t.Fatalf("an abort of a committed leg = %v, want ErrDecisionConflict", err)
	}
}

func TestAnAbortedCreditReleasesItsPendingMoney(t *testing.T) {
	t.Parallel()
	n := newNode(t, "bob")
	if _, err := n.svc.Prepare(ctx, "bob", "t1", contract.LegCredit, "5.00", "alice", ""); err != nil {
		t.Fatal(err)
	}
	if a := n.get(t, "bob"); a.PendingIn != 500 || a.Balance != 0 {
		t.Fatalf("after prepare bob = %+v", a)
	}
	woken := n.woken
	if h, err := n.svc.Abort(ctx, "bob", "t1", contract.LegCredit); err != nil || h.State != contract.HoldAborted {
		t.Fatalf("abort = %+v, %v", h, err)
	}
	if a := n.get(t, "bob"); a.PendingIn != 0 || a.Balance != 0 || a.EventSeq != 0 || n.woken != woken {
		t.Fatalf("after abort bob = %+v, relay woken %d times; want nothing moved, no event", a, n.woken-woken)
	}
	if _, err := n.svc.Commit(ctx, "bob", "t1", contract.LegCredit); !errors.Is(err, account.ErrDecisionConflict) {
		t.Fatalf("a commit of an aborted leg = %v, want ErrDecisionConflict", err)
	}
	if h, err := n.svc.Abort(ctx, "bob", "t1", contract.LegCredit); err != nil || h.State != contract.HoldAborted {
		t.Fatalf("a repeated abort = %+v, %v", h, err)
	}
}

func TestARefusedPrepareIsAnAbortedLegWithItsReason(t *testing.T) {
	t.Parallel()
	n := newNode(t, "alice")
	h, err := n.svc.Prepare(ctx, "alice", "t1", contract.LegDebit, "1.00", "bob", "")
	if err != nil || h.State != contract.HoldAborted || h.Reason != contract.CodeInsufficient || !strings.Contains(h.Message, "available") {
		t.Fatalf("prepare beyond the balance = %+v, %v; want aborted for insufficient funds, in words", h, err)
	}
	again, err := n.svc.Prepare(ctx, "alice", "t1", contract.LegDebit, "1.00", "bob", "")
	if err != nil || again.State != contract.HoldAborted || again.Reason != contract.CodeInsufficient || again.Message != "" {
		t.Fatalf("a repeated prepare = %+v, %v; want the recorded no (its code; the words are not kept)", again, err)
	}
	if h, _ := n.svc.Prepare(ctx, "alice", "t2", contract.LegCredit, "1.001", "bob", ""); h.State != contract.HoldAborted || h.Reason != contract.CodeInvalidAmount {
		t.Fatalf("prepare of a bad amount = %+v; want aborted as invalid_amount", h)
	}
	if _, err := n.svc.Prepare(ctx, "carol", "t3", contract.LegCredit, "1.00", "bob", ""); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("prepare on an account not on this node = %v, want ErrNotFound", err)
	}
	if h, err := n.svc.Abort(ctx, "carol", "t3", contract.LegCredit); err != nil || h.State != contract.HoldAborted {
		t.Fatalf("abort on an account not on this node = %+v, %v; want aborted (nothing was held)", h, err)
	}
	if _, err := n.svc.Commit(ctx, "alice", "t9", contract.LegDebit); !errors.Is(err, account.ErrUnknownTransfer) {
		t.Fatalf("commit of a leg never prepared = %v, want ErrUnknownTransfer", err)
	}
	if res, err := n.svc.Apply(ctx, []account.Step{{Op: "refund", TransferID: "t4", Leg: contract.LegDebit, Account: "alice"}}); err != nil || res[0].Err == nil {
		t.Fatalf("an unknown step = %+v, %v; want its own error", res, err)
	}
}

// An abort that overtakes its prepare is recorded, so that the late prepare is refused instead
// of holding money for a transfer already given up.
func TestAnAbortBeforeThePrepareRefusesTheLatePrepare(t *testing.T) {
	t.Parallel()
	n := newNode(t, "alice")
	if _, err := n.svc.Deposit(ctx, "alice", "d-1", "10.00", ""); err != nil {
		t.Fatal(err)
	}
	h, err := n.svc.Abort(ctx, "alice", "t1", contract.LegDebit)
	if err != nil || h.State != contract.HoldAborted || h.Reason != contract.ReasonAbortedBeforePrepare {
		t.Fatalf("abort before prepare = %+v, %v", h, err)
	}
	late, err := n.svc.Prepare(ctx, "alice", "t1", contract.LegDebit, "5.00", "bob", "")
	if err != nil || late.State != contract.HoldAborted || late.Reason != contract.ReasonAbortedBeforePrepare {
		t.Fatalf("late prepare = %+v, %v; want the recorded abort", late, err)
	}
	if a := n.get(t, "alice"); a.OnHold != 0 {
		t.Fatalf("the late prepare held %d", a.OnHold)
	}
	if _, err := n.svc.Commit(ctx, "alice", "t1", contract.LegDebit); !errors.Is(err, account.ErrDecisionConflict) {
		t.Fatalf("a commit after the abort = %v, want ErrDecisionConflict", err)
	}
}

func TestABatchOfStepsSeesItsEarlierSteps(t *testing.T) {
	t.Parallel()
	n := newNode(t, "alice")
	if _, err := n.svc.Deposit(ctx, "alice", "d-1", "10.00", ""); err != nil {
		t.Fatal(err)
	}
	step := func(op, tr, amount string) account.Step {
		return account.Step{Op: op, TransferID: tr, Leg: contract.LegDebit, Account: "alice", Amount: amount,
			Trace: map[string]string{"traceparent": tr}}
	}
	res, err := n.svc.Apply(ctx, []account.Step{step(contract.OpPrepare, "t1", "6.00"), step(contract.OpPrepare, "t2", "6.00"),
		step(contract.OpCommit, "t1", ""), step(contract.OpPrepare, "t3", "4.00"), step(contract.OpCommit, "t3", "")})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []contract.HoldState{contract.HoldPrepared, contract.HoldAborted, contract.HoldCommitted, contract.HoldPrepared, contract.HoldCommitted} {
		if res[i].Err != nil || res[i].Hold.State != want {
			t.Fatalf("step %d = %+v, %v; want %s", i, res[i].Hold, res[i].Err, want)
		}
	}
	out := n.store.Outbox()
	if len(out) != 3 || out[1].Seq != 2 || out[2].Seq != 3 || out[1].Trace["traceparent"] != "t1" || out[2].BalanceAfter != 0 {
		t.Fatalf("outbox = %+v; want the deposit, then t1 and t3 numbered 2 and 3 with their steps' traces", out)
	}
}

func TestStaleHoldsAreThePreparedLegsOlderThanTheAge(t *testing.T) {
	t.Parallel()
	n := newNode(t, "alice")
	if _, err := n.svc.Prepare(ctx, "alice", "t1", contract.LegCredit, "1.00", "bob", ""); err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(30 * time.Second)
	if _, err := n.svc.Prepare(ctx, "alice", "t2", contract.LegCredit, "1.00", "bob", ""); err != nil {
		t.Fatal(err)
	}
	if stale, err := n.svc.StaleHolds(ctx, time.Minute, 10); err != nil || len(stale) != 0 {
		t.Fatalf("stale after 30 s = %+v, %v; want none", stale, err)
	}
	n.clock.Advance(45 * time.Second)
	if stale, err := n.svc.StaleHolds(ctx, time.Minute, 10); err != nil || len(stale) != 1 || stale[0].TransferID != "t1" {
		t.Fatalf("stale after 75 s = %+v, %v; want t1", stale, err)
	}
	if _, err := n.svc.Commit(ctx, "alice", "t1", contract.LegCredit); err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(time.Hour)
	if stale, err := n.svc.StaleHolds(ctx, time.Minute, 10); err != nil || len(stale) != 1 || stale[0].TransferID != "t2" {
		t.Fatalf("stale once t1 is decided = %+v, %v; want t2", stale, err)
	}
}

func TestAnAccountLeavesOnceItsLegsAreDecidedAndArrivesOnItsNewNode(t *testing.T) {
	t.Parallel()
	n := newNode(t, "alice")
	if _, err := n.svc.Deposit(ctx, "alice", "d-1", "10.00", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := n.svc.Prepare(ctx, "alice", "t1", contract.LegDebit, "1.00", "bob", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := n.svc.Export(ctx, "alice", "m-1", account.PartAccount, "", 10); !errors.Is(err, account.ErrMoveConflict) {
		t.Fatalf("export before the account has gone = %v, want ErrMoveConflict", err)
	}
	if st, err := n.svc.Leave(ctx, "alice", "m-1", "account-2"); err != nil || st.State != account.MoveLeaving || st.Prepared != 1 {
		t.Fatalf("leave = %+v, %v", st, err)
	}
	if _, err := n.svc.Deposit(ctx, "alice", "d-2", "1.00", ""); !errors.Is(err, account.ErrMoving) {
		t.Fatalf("a deposit while leaving = %v, want ErrMoving", err)
	}
	if _, err := n.svc.Prepare(ctx, "alice", "t2", contract.LegDebit, "1.00", "bob", ""); !errors.Is(err, account.ErrMoving) {
		t.Fatalf("a new leg while leaving = %v, want ErrMoving", err)
	}
	if st, err := n.svc.Depart(ctx, "alice", "m-1"); err != nil || st.State != account.MoveLeaving || st.Prepared != 1 {
		t.Fatalf("depart with a leg prepared = %+v, %v; want leaving, waiting for 1 leg", st, err)
	}
	if _, err := n.svc.Commit(ctx, "alice", "t1", contract.LegDebit); err != nil {
		t.Fatalf("a decision of a leg in flight while leaving: %v", err)
	}
	st, err := n.svc.Depart(ctx, "alice", "m-1")
	if err != nil || st.State != account.MoveGone || st.Prepared != 0 || st.EventSeq != 2 {
		t.Fatalf("depart = %+v, %v", st, err)
	}
	if _, err := n.svc.Get(ctx, "alice"); !errors.Is(err, account.ErrMoved) {
		t.Fatalf("get of a gone account = %v, want ErrMoved", err)
	}
	if _, err := n.svc.Stay(ctx, "alice", "m-1"); !errors.Is(err, account.ErrMoveConflict) {
		t.Fatalf("stay once gone = %v, want ErrMoveConflict", err)
	}
	if _, err := n.svc.Export(ctx, "alice", "m-1", "outbox", "", 10); !errors.Is(err, account.ErrMoveConflict) {
		t.Fatalf("export of an unknown part = %v, want ErrMoveConflict", err)
	}

	to := memstore.New("account-2")
	arrived := accounttest.NewService(t, "account-2", to, n.clock)
	for _, part := range []string{account.PartAccount, account.PartRequests, account.PartHolds} {
		page, err := n.svc.Export(ctx, "alice", "m-1", part, "", 100)
		if err != nil || page.Next != "" {
			t.Fatalf("export %s = %+v, %v", part, page, err)
		}
		if _, err := arrived.Import(ctx, "alice", "m-1", "account-1", part, page.Rows); err != nil {
			t.Fatalf("import %s: %v", part, err)
		}
	}
	if _, err := arrived.Import(ctx, "alice", "m-1", "account-1", account.PartAccount, nil); !errors.Is(err, account.ErrMoveConflict) {
		t.Fatalf("an account part of no row = %v, want ErrMoveConflict", err)
	}
	if _, err := arrived.Deposit(ctx, "alice", "d-3", "1.00", ""); !errors.Is(err, account.ErrMoving) {
		t.Fatalf("a deposit before activation = %v, want ErrMoving", err)
	}
	if st, err := arrived.Activate(ctx, "alice", "m-1"); err != nil || st.State != account.MoveNone || st.EventSeq != 2 {
		t.Fatalf("activate = %+v, %v", st, err)
	}
	d, err := arrived.Deposit(ctx, "alice", "d-3", "1.00", "")
	if err != nil || d.Account.Balance != 1000 || d.Event.Seq != 3 || d.Event.Node != "account-2" {
		t.Fatalf("a deposit on the new node = %+v, %v; want 10.00 and event 3, numbered on from the old node's", d, err)
	}
	if _, err := arrived.Activate(ctx, "alice", "m-1"); err != nil {
		t.Fatalf("a repeated activation: %v", err)
	}
}

func TestAGivenUpMoveGivesTheAccountItsWorkBack(t *testing.T) {
	t.Parallel()
	n := newNode(t, "alice")
	if _, err := n.svc.Leave(ctx, "alice", "m-1", "account-2"); err != nil {
		t.Fatal(err)
	}
	if st, err := n.svc.Stay(ctx, "alice", "m-1"); err != nil || st.State != account.MoveNone {
		t.Fatalf("stay = %+v, %v", st, err)
	}
	if _, err := n.svc.Deposit(ctx, "alice", "d-1", "1.00", ""); err != nil {
		t.Fatalf("a deposit after the move was given up: %v", err)
	}
	if _, err := n.svc.Leave(ctx, "alice", "m-1", "account-2"); !errors.Is(err, account.ErrMoveConflict) {
		t.Fatalf("a late leave of the given-up move = %v, want ErrMoveConflict", err)
	}
	if _, err := n.svc.Leave(ctx, "nobody", "m-2", "account-2"); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("leave of an unknown account = %v, want ErrNotFound", err)
	}
}

func TestListReturnsTheServedAccountsInIDOrder(t *testing.T) {
	t.Parallel()
	n := newNode(t, "c", "a", "b")
	got, err := n.svc.List(ctx, "a", 10)
	if err != nil || len(got) != 2 || got[0].ID != "b" || got[1].ID != "c" || got[0].Node != "account-1" {
		t.Fatalf("list after a = %+v, %v", got, err)
	}
}

// Package accounttest is the contract of an account node's store: TestStore runs one suite
// against any implementation of account.Store and account.MoveStore (memstore and pgstore), so
// that the use cases' unit tests, which run on the store in memory, say what the node does on
// Postgres (wild-workouts' repository tests).
package accounttest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/contract/money"
	"tsbank/platform/idgen"
	"tsbank/services/account/account"
	"tsbank/services/account/account/memstore"
)

// Store is what a node's store implements.
type Store interface {
	account.Store
	account.MoveStore
}

// NewStore returns an empty store of node's accounts, of its own (two calls are two databases).
type NewStore func(t *testing.T, node string) Store

var eur = money.Currency{Code: "EUR", Exponent: 2}

// Clock is a clock that moves only when told: the tests set the times that decide.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at a fixed time.
func NewClock() *Clock {
	return &Clock{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
}

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// NewService returns the use cases of node over store, with clock, an in-memory registry and
// the EUR accounts ids opened.
func NewService(t testing.TB, node string, store Store, clock *Clock, ids ...string) *account.Service {
	t.Helper()
	svc := &account.Service{Node: node, Store: store, Moves: store, Registry: &memstore.Registry{},
		Now: clock.Now, NewID: idgen.UUIDv7}
	for _, id := range ids {
		if _, err := svc.Open(context.Background(), id, "o-"+id, eur); err != nil {
			t.Fatal(err)
		}
	}
	return svc
}

// TestStore runs the store contract against the stores newStore makes.
func TestStore(t *testing.T, newStore NewStore) {
	ctx := context.Background()

	t.Run("create returns the account, replays its request, and refuses a taken id or a reused request id", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, "account-1")
		opened := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		a := account.Account{ID: "alice", Node: "account-1", Currency: eur, Status: account.StatusOpen, OpenedAt: opened}
		key := account.NewKey("o-alice", "open", "EUR")
		first, err := s.Create(ctx, a, key)
		if err != nil || first.Account.ID != "alice" || first.Event != nil {
			t.Fatalf("create = %+v, %v", first, err)
		}
		if again, err := s.Create(ctx, a, key); err != nil || again.Account.ID != "alice" || !again.Account.OpenedAt.Equal(opened) {
			t.Fatalf("replayed create = %+v, %v; want the first result", again, err)
		}
		if _, err := s.Create(ctx, a, account.NewKey("o-2", "open", "EUR")); !errors.Is(err, account.ErrExists) {
			t.Fatalf("create of a taken id = %v, want ErrExists", err)
		}
		if _, err := s.Create(ctx, a, account.NewKey("o-alice", "open", "USD")); !errors.Is(err, account.ErrConflict) {
			t.Fatalf("create with a reused request id = %v, want ErrConflict", err)
		}
		got, err := s.Get(ctx, "alice")
		if err != nil || got.Node != "account-1" || got.Currency != eur || got.Status != account.StatusOpen ||
			got.Balance != 0 || got.EventSeq != 0 || !got.OpenedAt.Equal(opened) || got.Move != (account.Move{}) {
			t.Fatalf("get = %+v, %v", got, err)
		}
		if _, err := s.Get(ctx, "nobody"); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("get of an unknown id = %v, want ErrNotFound", err)
		}
	})

	t.Run("change saves what fn did and its event, replays the request, and writes nothing when fn fails", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, "account-1")
		NewService(t, "account-1", s, NewClock(), "alice")
		calls := 0
		deposit := func(n int64) func(*account.Account) (*account.Event, error) {
			return func(a *account.Account) (*account.Event, error) {
				calls++
				a.Balance += n
				a.EventSeq++
				return &account.Event{ID: idgen.UUIDv7(), Type: contract.EventDeposit, Account: a.ID, Node: a.Node,
					Amount: n, Currency: a.Currency.Code, BalanceAfter: a.Balance, Seq: a.EventSeq, RequestID: "d-1"}, nil
			}
		}
		key := account.NewKey("d-1", "deposit", "1.00")
		first, err := s.Change(ctx, "alice", key, deposit(100))
		if err != nil || first.Account.Balance != 100 || first.Event == nil || first.Event.Seq != 1 {
			t.Fatalf("change = %+v, %v", first, err)
		}
		again, err := s.Change(ctx, "alice", key, deposit(100))
		if err != nil || calls != 1 || again.Account.Balance != 100 || again.Event == nil || again.Event.ID != first.Event.ID {
			t.Fatalf("replay = %+v, %v after %d calls of fn; want the first result, fn called once", again, err, calls)
		}
		if _, err := s.Change(ctx, "alice", account.NewKey("d-1", "deposit", "2.00"), deposit(200)); !errors.Is(err, account.ErrConflict) {
			t.Fatalf("change with a reused request id = %v, want ErrConflict", err)
		}
		refusal := errors.New("refused")
		if _, err := s.Change(ctx, "alice", account.NewKey("w-1", "withdrawal"), func(a *account.Account) (*account.Event, error) {
			a.Balance = -1
			return nil, refusal
		}); !errors.Is(err, refusal) {
			t.Fatalf("a failing fn = %v, want its error", err)
		}
		limited, err := s.Change(ctx, "alice", account.NewKey("w-1", "withdrawal"), func(a *account.Account) (*account.Event, error) {
			a.OverdraftLimit = 500
			return nil, nil
		})
		if err != nil || limited.Event != nil || limited.Account.Balance != 100 || limited.Account.OverdraftLimit != 500 {
			t.Fatalf("a change retried after its refusal = %+v, %v; want it applied (the refusal recorded nothing)", limited, err)
		}
		if got, err := s.Get(ctx, "alice"); err != nil || got.Balance != 100 || got.OverdraftLimit != 500 || got.EventSeq != 1 {
			t.Fatalf("alice = %+v, %v", got, err)
		}
		if _, err := s.Change(ctx, "nobody", account.NewKey("d-1", "deposit"), deposit(1)); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("change of an unknown account = %v, want ErrNotFound", err)
		}
	})

	t.Run("legs are prepared, decided once, and a conflicting decision changes nothing", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, "account-1")
		svc := NewService(t, "account-1", s, NewClock(), "alice", "bob")
		if _, err := svc.Deposit(ctx, "alice", "d-1", "100.00", ""); err != nil {
			t.Fatal(err)
		}
		steps := func(steps ...account.Step) []account.StepResult {
			t.Helper()
			res, err := svc.Apply(ctx, steps)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		prepare := func(tr, id, leg, amount string) account.Step {
			return account.Step{Op: contract.OpPrepare, TransferID: tr, Leg: leg, Account: id, Amount: amount, Counterparty: "x", Description: "rent",
				Exchange: &account.Exchange{Quote: "q-1", Rate: "1.1"}}
		}
		decide := func(op, tr, id, leg string) account.Step {
			return account.Step{Op: op, TransferID: tr, Leg: leg, Account: id}
		}
		res := steps(prepare("t1", "alice", contract.LegDebit, "30.00"), prepare("t1", "bob", contract.LegCredit, "30.00"),
			prepare("t2", "alice", contract.LegDebit, "20.00"))
		for i, r := range res {
			if r.Err != nil || r.Hold.State != contract.HoldPrepared {
				t.Fatalf("prepare %d = %+v, %v", i, r.Hold, r.Err)
			}
		}
		// A duplicate prepare answers the stored leg; the leg keeps what its prepare carried.
		dup := steps(prepare("t1", "alice", contract.LegDebit, "30.00"))[0]
		if dup.Err != nil || dup.Hold.State != contract.HoldPrepared || dup.Hold.Amount != 3000 || dup.Hold.Currency != eur ||
			dup.Hold.Description != "rent" || dup.Hold.Exchange == nil || dup.Hold.Exchange.Quote != "q-1" {
			t.Fatalf("duplicate prepare = %+v, %v", dup.Hold, dup.Err)
		}
		if a, _ := s.Get(ctx, "alice"); a.OnHold != 5000 {
			t.Fatalf("alice holds %d, want 5000 (a duplicate prepare holds nothing more)", a.OnHold)
		}
		res = steps(decide(contract.OpCommit, "t1", "alice", contract.LegDebit), decide(contract.OpCommit, "t1", "bob", contract.LegCredit),
			decide(contract.OpAbort, "t2", "alice", contract.LegDebit))
		for i, want := range []contract.HoldState{contract.HoldCommitted, contract.HoldCommitted, contract.HoldAborted} {
			if res[i].Err != nil || res[i].Hold.State != want {
				t.Fatalf("decision %d = %+v, %v; want %s", i, res[i].Hold, res[i].Err, want)
			}
		}
		res = steps(decide(contract.OpCommit, "t1", "alice", contract.LegDebit), decide(contract.OpAbort, "t1", "bob", contract.LegCredit),
			decide(contract.OpCommit, "t2", "alice", contract.LegDebit))
		if res[0].Err != nil || res[0].Hold.State != contract.HoldCommitted {
			t.Fatalf("a repeated commit = %+v, %v; want committed", res[0].Hold, res[0].Err)
		}
		for _, r := range res[1:] {
			if !errors.Is(r.Err, account.ErrDecisionConflict) {
				t.Fatalf("a decision against the leg's outcome = %+v, %v; want ErrDecisionConflict", r.Hold, r.Err)
			}
		}
		alice, _ := s.Get(ctx, "alice")
		bob, _ := s.Get(ctx, "bob")
		if alice.Balance != 7000 || alice.OnHold != 0 || alice.EventSeq != 2 || bob.Balance != 3000 || bob.PendingIn != 0 || bob.EventSeq != 1 {
			t.Fatalf("alice = %+v, bob = %+v; want 70.00 and 30.00, nothing held, events numbered once", alice, bob)
		}
	})

	t.Run("a call of a batch that fails changes nothing, and the later calls see the earlier ones' writes", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, "account-1")
		NewService(t, "account-1", s, NewClock(), "alice")
		keys := []account.LegKey{{TransferID: "t1", Leg: contract.LegCredit, Account: "alice"},
			{TransferID: "t1", Leg: contract.LegCredit, Account: "alice"}, {TransferID: "t2", Leg: contract.LegCredit, Account: "alice"},
			{TransferID: "t3", Leg: contract.LegCredit, Account: "carol"}}
		var seen []string
		err := s.Legs(ctx, keys, func(i int, a *account.Account, known *account.Hold) (account.Hold, bool, *account.Event, error) {
			seen = append(seen, fmt.Sprintf("%d:%v:%v", i, a != nil, known != nil))
			switch i {
			case 0:
				a.PendingIn += 100
				return account.Hold{TransferID: "t1", Leg: contract.LegCredit, Account: "alice", Amount: 100, State: contract.HoldPrepared}, true, nil, nil
			case 1:
				if a.PendingIn != 100 || known.Amount != 100 {
					t.Errorf("call 1 sees pending in %d and leg %+v; want call 0's writes", a.PendingIn, known)
				}
				a.Balance = 999
				return account.Hold{}, true, nil, errors.New("refused")
			case 2:
				if a.Balance != 0 {
					t.Errorf("call 2 sees balance %d, written by a call that failed", a.Balance)
				}
			}
			return account.Hold{}, false, nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(seen) != "[0:true:false 1:true:true 2:true:false 3:false:false]" {
			t.Fatalf("calls saw (index:account:leg) %v", seen)
		}
		if a, _ := s.Get(ctx, "alice"); a.PendingIn != 100 || a.Balance != 0 {
			t.Fatalf("alice = %+v; want call 0's leg only", a)
		}
	})

	t.Run("an abort before the prepare is recorded, and refuses the late prepare", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, "account-1")
		svc := NewService(t, "account-1", s, NewClock(), "alice")
		if h, err := svc.Abort(ctx, "alice", "t1", contract.LegCredit); err != nil || h.State != contract.HoldAborted || h.Reason != contract.ReasonAbortedBeforePrepare {
			t.Fatalf("abort before prepare = %+v, %v", h, err)
		}
		h, err := svc.Prepare(ctx, "alice", "t1", contract.LegCredit, "1.00", "bob", "")
		if err != nil || h.State != contract.HoldAborted || h.Reason != contract.ReasonAbortedBeforePrepare {
			t.Fatalf("late prepare = %+v, %v; want the recorded abort", h, err)
		}
		if a, _ := s.Get(ctx, "alice"); a.PendingIn != 0 {
			t.Fatalf("a late prepare left %d pending", a.PendingIn)
		}
	})

	t.Run("stale holds are the prepared legs created before the time, oldest first", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, "account-1")
		clock := NewClock()
		svc := NewService(t, "account-1", s, clock, "alice")
		start := clock.Now()
		for _, tr := range []string{"t1", "t2", "t3", "t4"} {
			if _, err := svc.Prepare(ctx, "alice", tr, contract.LegCredit, "1.00", "bob", ""); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Minute)
		}
		if _, err := svc.Commit(ctx, "alice", "t2", contract.LegCredit); err != nil {
			t.Fatal(err)
		}
		stale, err := s.StaleHolds(ctx, start.Add(150*time.Second), 10)
		if err != nil || len(stale) != 2 || stale[0].TransferID != "t1" || stale[1].TransferID != "t3" {
			t.Fatalf("stale holds = %+v, %v; want t1 and t3 (t2 is decided, t4 younger)", stale, err)
		}
		if h := stale[0]; h.Currency != eur || h.Amount != 100 || h.Account != "alice" || !h.CreatedAt.Equal(start) {
			t.Fatalf("stale hold = %+v", h)
		}
		if one, err := s.StaleHolds(ctx, start.Add(time.Hour), 1); err != nil || len(one) != 1 || one[0].TransferID != "t1" {
			t.Fatalf("stale holds, limit 1 = %+v, %v", one, err)
		}
	})

	t.Run("list pages in id order and leaves out the accounts that moved away", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, "account-1")
		svc := NewService(t, "account-1", s, NewClock(), "d", "b", "a", "c", "e")
		if _, err := svc.Leave(ctx, "c", "m-1", "account-2"); err != nil {
			t.Fatal(err)
		}
		if st, err := svc.Depart(ctx, "c", "m-1"); err != nil || st.State != account.MoveGone {
			t.Fatalf("depart = %+v, %v", st, err)
		}
		var got []string
		for after := ""; ; {
			page, err := s.List(ctx, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range page {
				got = append(got, a.ID)
			}
			if len(page) < 2 {
				break
			}
			after = page[len(page)-1].ID
		}
		if fmt.Sprint(got) != "[a b d e]" {
			t.Fatalf("listed %v, want [a b d e]", got)
		}
	})

	t.Run("a moved account is copied page by page and served on its new node as it was", func(t *testing.T) {
		t.Parallel()
		from, to := newStore(t, "account-1"), newStore(t, "account-2")
		clock := NewClock()
		old := NewService(t, "account-1", from, clock, "alice")
		arrived := NewService(t, "account-2", to, clock)
		first, err := old.Deposit(ctx, "alice", "d-1", "10.00", "")
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range []string{"t1", "t2", "t3"} {
			if _, err := old.Prepare(ctx, "alice", tr, contract.LegDebit, "1.00", "bob", ""); err != nil {
				t.Fatal(err)
			}
		}
		a, prepared, err := from.Moving(ctx, "alice", func(a *account.Account, prepared int) error { return a.Leave("m-1", "account-2") })
		if err != nil || prepared != 3 || a.Move.State != account.MoveLeaving {
			t.Fatalf("moving = %+v, %d, %v; want leaving with 3 legs prepared", a.Move, prepared, err)
		}
		if _, _, err := from.Moving(ctx, "alice", func(a *account.Account, _ int) error {
			a.Move.State = account.MoveGone
			return errors.New("refused")
		}); err == nil {
			t.Fatal("a refused move step succeeded")
		}
		if a, _ := from.Get(ctx, "alice"); a.Move != (account.Move{State: account.MoveLeaving, ID: "m-1", Peer: "account-2"}) {
			t.Fatalf("after a refused step the move is %+v", a.Move)
		}
		for _, tr := range []string{"t1", "t2"} {
			if _, err := old.Commit(ctx, "alice", tr, contract.LegDebit); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := old.Abort(ctx, "alice", "t3", contract.LegDebit); err != nil {
			t.Fatal(err)
		}
		if st, err := old.Depart(ctx, "alice", "m-1"); err != nil || st.State != account.MoveGone || st.EventSeq != 3 {
			t.Fatalf("depart = %+v, %v", st, err)
		}
		// One row a page, so that every cursor is used.
		for _, part := range []string{account.PartAccount, account.PartRequests, account.PartHolds} {
			rows := 0
			for after := ""; ; {
				page, err := old.Export(ctx, "alice", "m-1", part, after, 1)
				if err != nil {
					t.Fatalf("export %s: %v", part, err)
				}
				n, err := arrived.Import(ctx, "alice", "m-1", "account-1", part, page.Rows)
				if err != nil || n != len(page.Rows) {
					t.Fatalf("import %s = %d, %v; want %d rows", part, n, err, len(page.Rows))
				}
				if again, err := arrived.Import(ctx, "alice", "m-1", "account-1", part, page.Rows); err != nil || (part != account.PartAccount && again != 0) {
					t.Fatalf("a repeated import of %s = %d, %v; want nothing written", part, again, err)
				}
				rows += len(page.Rows)
				if page.Next == "" {
					break
				}
				after = page.Next
			}
			if want := map[string]int{account.PartAccount: 1, account.PartRequests: 2, account.PartHolds: 3}[part]; rows != want {
				t.Fatalf("%s: %d rows copied, want %d", part, rows, want)
			}
		}
		if _, err := to.Export(ctx, "alice", account.PartHolds, "not a cursor", 1); !errors.Is(err, account.ErrMoveConflict) {
			t.Fatalf("export with a bad cursor = %v, want ErrMoveConflict", err)
		}
		if _, err := arrived.Get(ctx, "alice"); !errors.Is(err, account.ErrMoving) {
			t.Fatalf("get before activation = %v, want ErrMoving", err)
		}
		if _, err := arrived.Activate(ctx, "alice", "m-1"); err != nil {
			t.Fatal(err)
		}
		got, err := arrived.Get(ctx, "alice")
		if err != nil || got.Node != "account-2" || got.Balance != 800 || got.EventSeq != 3 || got.OnHold != 0 || got.Move.State != account.MoveNone {
			t.Fatalf("arrived = %+v, %v", got, err)
		}
		if again, err := arrived.Deposit(ctx, "alice", "d-1", "10.00", ""); err != nil || again.Event.ID != first.Event.ID {
			t.Fatalf("a retried deposit on the new node = %+v, %v; want its first reply", again, err)
		}
		if h, err := arrived.Commit(ctx, "alice", "t1", contract.LegDebit); err != nil || h.State != contract.HoldCommitted {
			t.Fatalf("a repeated commit on the new node = %+v, %v", h, err)
		}
		if _, err := arrived.Import(ctx, "bob", "m-2", "account-1", account.PartRequests, nil); !errors.Is(err, account.ErrMoveConflict) {
			t.Fatalf("records before their account = %v, want ErrMoveConflict", err)
		}
	})
}

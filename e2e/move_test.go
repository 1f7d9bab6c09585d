package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"tsbank/contract"
	"tsbank/contract/decisionsig"
	"tsbank/testkit"
)

func (b *bank) moveAccount(id, account, to string) (contract.Move, error) {
	var m contract.Move
	err := b.c.Call(ctx(b.t), contract.SubjectMoves, contract.MoveRequest{ID: id, Account: account, To: to}, &m)
	return m, err
}

func (b *bank) mustMove(id, account, to string) contract.Move {
	b.t.Helper()
	m, err := b.moveAccount(id, account, to)
	if err != nil {
		b.t.Fatalf("move %s of %s to %s: %v", id, account, to, err)
	}
	if m.State != contract.MoveDone {
		b.t.Fatalf("move %s of %s to %s: %+v", id, account, to, m)
	}
	return m
}

func (b *bank) whereis(account string) string {
	b.t.Helper()
	w, err := b.c.Whereis(ctx(b.t), account)
	if err != nil {
		b.t.Fatalf("whereis %s: %v", account, err)
	}
	return w.Node
}

// moveState is the account's move state in a node's database ("-" if the node has no row).
func (b *bank) moveState(nodeName, account string) string {
	b.t.Helper()
	var state string
	err := b.pool(nodeName).QueryRow(ctx(b.t), `SELECT coalesce((SELECT move_state FROM accounts WHERE id = $1), '-')`, account).Scan(&state)
	if err != nil {
		b.t.Fatal(err)
	}
	return state
}

// noForgedEvents fails if the history set aside any event as forged: a moved account's events,
// from before and after its move, are each its owner's at their time.
func (b *bank) noForgedEvents() {
	b.t.Helper()
	var n int
	var detail string
	if err := b.pool("history").QueryRow(ctx(b.t), `SELECT count(*), coalesce(string_agg(account || ' ' || reason, '; '), '') FROM forged_events`).Scan(&n, &detail); err != nil {
		b.t.Fatal(err)
	}
	if n != 0 {
		b.t.Fatalf("the history set aside %d events as forged: %s", n, detail)
	}
}

// eventSeqs are the history's event numbers of account, in order.
func (b *bank) eventSeqs(account string) []int64 {
	b.t.Helper()
	rows, err := b.pool("history").Query(ctx(b.t), `SELECT account_seq FROM transactions WHERE account = $1 ORDER BY account_seq`, account)
	if err != nil {
		b.t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			b.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func TestAMovedAccountKeepsItsBalanceEventNumbersAndIdempotencyRecords(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	b.startHistory()
	b.open("alice", "account-1", "EUR")
	b.open("bob", "account-2", "EUR")
	b.deposit("alice", "100.00")
	w1, err := b.c.Withdraw(ctx(t), "alice", contract.MoneyRequest{ID: "w-1", Amount: "10.00"})
	if err != nil {
		t.Fatal(err)
	}
	if tr := b.transfer("alice", "t-1", "bob", "20.00"); tr.Status != contract.TransferCommitted {
		t.Fatalf("transfer before the move: %+v", tr)
	}

	m := b.mustMove("mv-1", "alice", "account-2")
	if m.From != "account-1" || m.To != "account-2" || m.AfterSeq != 3 || m.Copied < 3 {
		t.Fatalf("the move: %+v", m)
	}
	if got := b.whereis("alice"); got != "account-2" {
		t.Fatalf("alice is on %s after the move", got)
	}
	if got := b.moveState("account-1", "alice"); got != "gone" {
		t.Fatalf("alice's row on account-1 is %q, want gone", got)
	}
	b.balances(t, map[string]string{"alice": "70.00", "bob": "20.00"})

	// The withdrawal's record moved too: a retry is answered as before, and takes nothing.
	again, err := b.c.Withdraw(ctx(t), "alice", contract.MoneyRequest{ID: "w-1", Amount: "10.00"})
	if err != nil || again.EventID != w1.EventID {
		t.Fatalf("the retried withdrawal after the move: %+v, %v (first %+v)", again, err, w1)
	}
	// New work on the new node numbers its events on from the old node's.
	b.deposit("alice", "5.00")
	if tr := b.transfer("bob", "t-2", "alice", "1.00"); tr.Status != contract.TransferCommitted {
		t.Fatalf("a transfer to the moved account: %+v", tr)
	}
	b.balances(t, map[string]string{"alice": "76.00", "bob": "19.00"})
	// Repeating the move is answered from the log.
	if again := b.mustMove("mv-1", "alice", "account-2"); again.UpdatedAt != m.UpdatedAt {
		t.Fatalf("a repeated move ran again: %+v, first %+v", again, m)
	}
	// And back, onto the row it left.
	b.mustMove("mv-2", "alice", "account-1")
	b.deposit("alice", "4.00")
	b.balances(t, map[string]string{"alice": "80.00"})
	if got := b.moveState("account-2", "alice"); got != "gone" {
		t.Fatalf("alice's row on account-2 is %q after moving back, want gone", got)
	}

	b.historyMatchesOutboxes()
	if seqs := b.eventSeqs("alice"); fmt.Sprint(seqs) != "[1 2 3 4 5 6]" {
		t.Fatalf("alice's event numbers in the history: %v", seqs)
	}
	b.noForgedEvents()
	b.reconciled()
	if bal, _, _, _ := b.ledger(); bal != 99_00 {
		t.Fatalf("the bank holds %d cents, want 9900 (109.00 deposited, 10.00 withdrawn)", bal)
	}
}

func TestMovesAreRefusedWithAClearCodeAndChangeNothing(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	b.open("alice", "account-1", "EUR")
	for _, c := range []struct {
		req  contract.MoveRequest
		code contract.Code
	}{
		{contract.MoveRequest{ID: "m-1", Account: "nobody", To: "account-2"}, contract.CodeAccountNotFound},
		{contract.MoveRequest{ID: "m-2", Account: "alice", To: "account-1"}, contract.CodeBadRequest},
		{contract.MoveRequest{ID: "m-3", Account: "alice", To: "account-9"}, contract.CodeNodeNotFound},
		{contract.MoveRequest{Account: "alice", To: "account-2"}, contract.CodeInvalidID},
		{contract.MoveRequest{ID: "m-4", Account: "al ice", To: "account-2"}, contract.CodeInvalidID},
	} {
		var m contract.Move
		err := b.c.Call(ctx(t), contract.SubjectMoves, c.req, &m)
		if contract.CodeOf(err) != c.code {
			t.Errorf("%+v: %v, want %s", c.req, err, c.code)
		}
	}
	b.stopNode("account-2")
	testkit.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		_, err := b.moveAccount("m-5", "alice", "account-2")
		if contract.CodeOf(err) != contract.CodeNodeUnavailable {
			return fmt.Errorf("a move to a stopped node: %v", err)
		}
		return nil
	})
	var logged int
	if err := b.pool("coordinator").QueryRow(ctx(t), `SELECT count(*) FROM moves`).Scan(&logged); err != nil || logged != 0 {
		t.Fatalf("refused moves were logged: %d, %v", logged, err)
	}
	if got := b.moveState("account-1", "alice"); got != "" {
		t.Fatalf("alice's move state after refused moves: %q", got)
	}
	var st contract.Move
	wantCode(t, b.c.Call(ctx(t), contract.SubjectMoveStatus, contract.MoveStatusRequest{ID: "m-1"}, &st), contract.CodeUnknownMove)
}

// TestAMoveWaitsForTheLegsInFlightOrIsGivenUp holds a leg of the account prepared, as a
// coordinator that has not decided yet: the move waits for it while the account takes no new
// work, and gives up after MOVE_DRAIN if it stays, leaving the account where it was.
func TestAMoveWaitsForTheLegsInFlightOrIsGivenUp(t *testing.T) {
	t.Parallel()
	b := newBank(t)
	b.env["HOLD_MAX_AGE"] = "1m" // the node does not ask about the leg on its own during the test
	for _, name := range nodeNames {
		b.startNode(name)
	}
	b.startCoordinator()
	b.open("alice", "account-1", "EUR")
	b.deposit("alice", "50.00")
	hold := func(transfer string) {
		st := contract.LegStep{Op: contract.OpPrepare, Account: "alice", TransferID: transfer, Leg: contract.LegDebit, Amount: "5.00", Counterparty: "bob"}
		var r contract.LegBatchReply
		batch := contract.LegBatch{Steps: []contract.LegStep{st}}
		batch.Sig = b.signBatch(batch.Steps)
		if err := b.c.Call(ctx(t), contract.NodeLegsSubject("account-1"), batch, &r); err != nil || r.Results[0].Vote == nil || !r.Results[0].Vote.Yes {
			t.Fatalf("hold %s: %+v, %v", transfer, r, err)
		}
	}
	decide := func(transfer, op string) {
		st := contract.LegStep{Op: op, Account: "alice", TransferID: transfer, Leg: contract.LegDebit}
		var r contract.LegBatchReply
		batch := contract.LegBatch{Steps: []contract.LegStep{st}}
		batch.Sig = b.signBatch(batch.Steps)
		if err := b.c.Call(ctx(t), contract.NodeLegsSubject("account-1"), batch, &r); err != nil || r.Results[0].Error != nil {
			t.Fatalf("%s %s: %+v, %v", op, transfer, r, err)
		}
	}

	// Given up: the leg stays past MOVE_DRAIN (1s here).
	hold("x-1")
	m, err := b.moveAccount("mv-1", "alice", "account-2")
	if err != nil || m.State != contract.MoveAborted || m.Reason != "legs_in_flight" {
		t.Fatalf("a move with a leg that stays prepared: %+v, %v", m, err)
	}
	if got := b.moveState("account-1", "alice"); got != "" {
		t.Fatalf("alice after the given-up move: %q", got)
	}
	decide("x-1", contract.OpCommit)
	b.deposit("alice", "1.00") // takes work again

	// Waited for: the leg is decided while the move waits, and the account goes.
	hold("x-2")
	done := make(chan contract.Move, 1)
	go func() {
		m, err := b.moveAccount("mv-2", "alice", "account-2")
		if err != nil {
			t.Error(err)
		}
		done <- m
	}()
	testkit.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if s := b.moveState("account-1", "alice"); s != "leaving" {
			return fmt.Errorf("alice is %q, not leaving yet", s)
		}
		return nil
	})
	// While leaving, new work waits: the client asks again until its time is up.
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	w, err := b.c.Withdraw(short, "alice", contract.MoneyRequest{ID: "w-1", Amount: "1.00"})
	cancel()
	if err == nil {
		t.Fatalf("a withdrawal went through while alice was leaving with a leg prepared: %+v", w)
	}
	// The client's last try may be cut by its own deadline at the node (timeout) rather than
	// answered account_moving; either way nothing was withdrawn, as the balance below shows.
	if code := contract.CodeOf(err); code != contract.CodeAccountMoving && code != contract.CodeTimeout {
		t.Fatalf("a withdrawal while alice was leaving: %v, want account_moving (or timeout)", err)
	}
	decide("x-2", contract.OpAbort)
	if m := <-done; m.State != contract.MoveDone {
		t.Fatalf("the move after the leg was decided: %+v", m)
	}
	b.balances(t, map[string]string{"alice": "46.00"})
	if got := b.whereis("alice"); got != "account-2" {
		t.Fatalf("alice is on %s", got)
	}
}

// TestMovesWhileTransfersRun moves accounts back and forth between the nodes while transfers
// run among them: every transfer has one outcome, no money is made or lost, the history has
// every event once, none is taken for a forgery, and the bank reconciles.
func TestMovesWhileTransfersRun(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	b.startHistory()
	accounts := []string{"a1", "a2", "a3", "a4"}
	for i, id := range accounts {
		b.open(id, nodeNames[i%2], "EUR")
		b.deposit(id, "1000.00")
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				from, to := accounts[r.IntN(4)], accounts[r.IntN(4)]
				if from == to {
					continue
				}
				c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				tr, err := b.c.Transfer(c, from, contract.TransferRequest{ID: fmt.Sprintf("w%d-%d", w, i), To: to, Amount: "1.00"})
				cancel()
				mu.Lock()
				switch {
				case err != nil:
					outcomes["error "+string(contract.CodeOf(err))]++
				default:
					outcomes[string(tr.Status)+" "+string(tr.Reason)]++
				}
				mu.Unlock()
			}
		}()
	}
	for i := range 8 {
		id := accounts[i%4]
		to := "account-1"
		if b.whereis(id) == "account-1" {
			to = "account-2"
		}
		b.mustMove(fmt.Sprintf("mv-%d", i), id, to)
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("transfers while moving: %v", outcomes)
	if outcomes["committed "] == 0 {
		t.Fatalf("no transfer committed while accounts moved: %v", outcomes)
	}
	b.settled()
	if bal, _, _, _ := b.ledger(); bal != 4000_00 {
		t.Fatalf("the bank holds %d cents after the moves, want 400000", bal)
	}
	b.historyMatchesOutboxes()
	b.noForgedEvents()
	b.reconciled()
}

// TestAMoveIsResumedAfterACrashOfTheCoordinatorOrANode stops the coordinator after the old node
// has let the account go (the worst moment: the account is served nowhere), with the new node
// down as well; a new coordinator finishes the move once the node is back.
func TestAMoveIsResumedAfterACrashOfTheCoordinatorOrANode(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	b.startHistory()
	b.open("alice", "account-1", "EUR")
	b.deposit("alice", "30.00")
	b.coord.Stop(5 * time.Second)
	// Play the coordinator that crashed: it logged the move, told account-1 to let alice go, and
	// died before the copy.
	if _, err := b.pool("coordinator").Exec(ctx(t), `INSERT INTO moves (request_id, account, from_node, to_node, state, updated_at)
		VALUES ('mv-1', 'alice', 'account-1', 'account-2', 'leaving', now() - interval '1 hour')`); err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{contract.MoveOpLeave, contract.MoveOpDepart} {
		r := contract.NodeMoveRequest{Op: op, MoveID: "mv-1", Account: "alice", Peer: "account-2"}
		r.Sig = b.signMove(r)
		var reply contract.NodeMoveReply
		if err := b.c.Call(ctx(t), contract.NodeMoveSubject("account-1"), r, &reply); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
	}
	b.stopNode("account-2")
	// Served nowhere for now: account-1 let it go, account-2 is down.
	c, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	_, err := b.c.Deposit(c, "alice", contract.MoneyRequest{ID: "d-1", Amount: "1.00"})
	cancel()
	if err == nil {
		t.Fatal("a deposit into alice went through while she was between two nodes")
	}

	b.startCoordinator()
	time.Sleep(time.Second) // recovery tries, and fails while account-2 is down
	b.startNode("account-2")
	testkit.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		var m contract.Move
		if err := b.c.Call(ctx(t), contract.SubjectMoveStatus, contract.MoveStatusRequest{ID: "mv-1"}, &m); err != nil {
			return err
		}
		if m.State != contract.MoveDone {
			return fmt.Errorf("the move is %s", m.State)
		}
		return nil
	})
	if _, err := b.c.Deposit(ctx(t), "alice", contract.MoneyRequest{ID: "d-1", Amount: "1.00"}); err != nil {
		t.Fatal(err)
	}
	b.balances(t, map[string]string{"alice": "31.00"})
	b.historyMatchesOutboxes()
	b.noForgedEvents()
	b.reconciled()
}

// TestAMoveStepNeedsTheCoordinatorsSignature sends a node an import that would create money:
// unsigned, or signed by another key, it is refused and writes nothing.
func TestAMoveStepNeedsTheCoordinatorsSignature(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	b.open("alice", "account-1", "EUR")
	row := []byte(`{"id":"zed","currency":"EUR","balance":100000000,"on_hold":0,"pending_in":0,"overdraft_limit":0,"status":"open","opened_at":"2026-12-01T00:00:00Z","closed_at":null,"event_seq":0,"move_state":"","move_id":"","move_peer":""}`)
	r := contract.NodeMoveRequest{Op: contract.MoveOpImport, MoveID: "mv-x", Account: "zed", Peer: "account-1", Part: contract.MovePartAccount,
		Page: &contract.MovePage{Part: contract.MovePartAccount, Rows: []json.RawMessage{row}}}
	for name, sig := range map[string]string{"unsigned": "", "signed by another key": signWith(t, foreignKey(t), r)} {
		r.Sig = sig
		var reply contract.NodeMoveReply
		err := b.c.Call(ctx(t), contract.NodeMoveSubject("account-2"), r, &reply)
		if contract.CodeOf(err) != contract.CodeForbidden {
			t.Errorf("%s: %+v, %v", name, reply, err)
		}
	}
	if got := b.moveState("account-2", "zed"); got != "-" {
		t.Fatalf("a refused import wrote a row: %q", got)
	}
	// Leave, too: a forged one would freeze an account.
	leave := contract.NodeMoveRequest{Op: contract.MoveOpLeave, MoveID: "mv-y", Account: "alice", Peer: "account-2"}
	var reply contract.NodeMoveReply
	wantCode(t, b.c.Call(ctx(t), contract.NodeMoveSubject("account-1"), leave, &reply), contract.CodeForbidden)
	if got := b.moveState("account-1", "alice"); got != "" {
		t.Fatalf("an unsigned leave froze alice: %q", got)
	}
}

func (b *bank) signMove(r contract.NodeMoveRequest) string {
	b.t.Helper()
	kp, err := decisionsig.ParseSeed(b.seed)
	if err != nil {
		b.t.Fatal(err)
	}
	return signWith(b.t, kp, r)
}

func (b *bank) signBatch(steps []contract.LegStep) string {
	b.t.Helper()
	kp, err := decisionsig.ParseSeed(b.seed)
	if err != nil {
		b.t.Fatal(err)
	}
	sig, err := decisionsig.Sign(kp, decisionsig.Batch(steps))
	if err != nil {
		b.t.Fatal(err)
	}
	return sig
}

func signWith(t testing.TB, kp nkeys.KeyPair, r contract.NodeMoveRequest) string {
	t.Helper()
	sig, err := decisionsig.Sign(kp, decisionsig.MoveStep(r))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// TestAnAccountMovesWithEveryServiceUnderItsOwnCredentials moves a customer's account on the
// bank as deployed, every service with only its own NATS permissions: the move, the customer's
// requests after it, and her history all work, and the history takes none of her events for a
// forgery.
func TestAnAccountMovesWithEveryServiceUnderItsOwnCredentials(t *testing.T) {
	sb := startSecureBank(t, nil)
	alice := sb.customer("alice")
	if tr, err := alice.c.Transfer(ctx(t), "alice", contract.TransferRequest{ID: "t-1", To: "bob", Amount: "10.00"}); err != nil || tr.Status != contract.TransferCommitted {
		t.Fatalf("before the move: %+v, %v", tr, err)
	}
	sb.mustMove("mv-1", "alice", "account-2")
	if _, err := alice.c.Withdraw(ctx(t), "alice", contract.MoneyRequest{ID: "w-1", Amount: "5.00"}); err != nil {
		t.Fatalf("a withdrawal after the move: %v", err)
	}
	if tr, err := alice.c.Transfer(ctx(t), "alice", contract.TransferRequest{ID: "t-2", To: "bob", Amount: "10.00"}); err != nil || tr.Status != contract.TransferCommitted {
		t.Fatalf("a transfer after the move: %+v, %v", tr, err)
	}
	bal, err := alice.c.Balance(ctx(t), "alice")
	if err != nil || bal.Balance != "75.00" {
		t.Fatalf("alice's balance after the move: %+v, %v", bal, err)
	}
	sb.historyMatchesOutboxes()
	sb.noForgedEvents()
	sb.reconciled()
	// Only the operator moves accounts: not a customer, not a node.
	var m contract.Move
	if err := alice.c.Call(ctx(t), contract.SubjectMoves, contract.MoveRequest{ID: "mv-2", Account: "alice", To: "account-1"}, &m); err == nil {
		t.Fatalf("a customer moved her account: %+v", m)
	}
	node := sb.service("account-1")
	node.publishDenied(t, contract.SubjectMoves, contract.NodeMoveSubject("account-2"), "$KV.tsbank_moves.alice")
}

package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"

	"tsbank/contract"
	"tsbank/services/coordinator/transfer"
)

func TestTransferBetweenNodesCommitsBothLegs(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	b.open("alice", "account-1", "EUR")
	b.open("bob", "account-2", "EUR")
	b.deposit("alice", "100.00")
	tr := b.transfer("alice", "t-1", "bob", "25")
	if tr.Status != contract.TransferCommitted || tr.Amount != "25.00" || tr.Currency != "EUR" || !tr.Done || tr.TransferID == "" {
		t.Fatalf("transfer = %+v", tr)
	}
	if a, c := b.balance("alice"), b.balance("bob"); a != "75.00" || c != "25.00" {
		t.Fatalf("balances alice %s, bob %s; want 75.00, 25.00", a, c)
	}
	// A retry returns the same transfer and moves nothing; the same id with another body conflicts.
	if again := b.transfer("alice", "t-1", "bob", "25"); again.TransferID != tr.TransferID || again.Status != contract.TransferCommitted {
		t.Fatalf("retry = %+v, want %+v", again, tr)
	}
	_, err := b.c.Transfer(ctx(t), "alice", contract.TransferRequest{ID: "t-1", To: "bob", Amount: "26"})
	wantCode(t, err, contract.CodeConflict)
	if a := b.balance("alice"); a != "75.00" {
		t.Fatalf("alice %s after a retry and a conflict, want 75.00", a)
	}
	st, err := b.c.TransferStatus(ctx(t), "alice", "t-1")
	if err != nil || st.TransferID != tr.TransferID || st.Status != contract.TransferCommitted {
		t.Fatalf("status = %+v, %v", st, err)
	}
	_, err = b.c.TransferStatus(ctx(t), "bob", "t-1")
	wantCode(t, err, contract.CodeUnknownTransfer)
	// Each leg wrote its event through its node's outbox, naming the transfer and the counterparty.
	for _, leg := range []struct{ node, account, typ, amount, counterparty string }{
		{"account-1", "alice", "transfer_out", "-25.00", "bob"}, {"account-2", "bob", "transfer_in", "25.00", "alice"},
	} {
		var typ, amount, transferID, counterparty string
		err := b.pool(leg.node).QueryRow(ctx(t), `SELECT payload->>'type', payload->>'amount', payload->>'transfer_id', payload->>'counterparty'
			FROM outbox WHERE account_id = $1 AND payload->>'transfer_id' IS NOT NULL`, leg.account).Scan(&typ, &amount, &transferID, &counterparty)
		if err != nil || typ != leg.typ || amount != leg.amount || transferID != tr.TransferID || counterparty != leg.counterparty {
			t.Fatalf("%s event = %s %s %s %s, %v", leg.account, typ, amount, transferID, counterparty, err)
		}
	}
}

func TestTransferWithinOneNodeIsAtomicToo(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	b.open("alice", "account-1", "EUR")
	b.open("carol", "account-1", "EUR")
	b.deposit("alice", "10.00")
	if tr := b.transfer("alice", "t-1", "carol", "10.00"); tr.Status != contract.TransferCommitted {
		t.Fatalf("transfer = %+v", tr)
	}
	if tr := b.transfer("alice", "t-2", "carol", "0.01"); tr.Status != contract.TransferAborted || tr.Reason != contract.CodeInsufficient {
		t.Fatalf("second transfer = %+v, want aborted for insufficient funds", tr)
	}
	if a, c := b.balance("alice"), b.balance("carol"); a != "0.00" || c != "10.00" {
		t.Fatalf("balances %s, %s", a, c)
	}
	b.settled()
}

// TestRefusedTransfersAbortAndLeaveNothing covers what only a participant can see, the state of
// its account: each transfer aborts with its reason, no money moves, no hold remains, and its log
// row is final. (What is wrong whatever the accounts' state, such as an unknown account or an
// amount the currency cannot hold, is refused before logging: see
// TestTransfersThatCannotFitTheirAccountsAreRefusedBeforeAnythingIsLogged.)
func TestRefusedTransfersAbortAndLeaveNothing(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	b.open("alice", "account-1", "EUR")
	b.open("bob", "account-2", "EUR")
	b.open("shut", "account-2", "EUR")
	if _, err := b.c.Close(ctx(t), "shut", contract.CloseRequest{ID: "c-1"}); err != nil {
		t.Fatal(err)
	}
	b.deposit("alice", "50.00")
	cases := []struct {
		name, from, to, amount string
		reason                 contract.Code
	}{
		{"insufficient funds", "alice", "bob", "50.01", contract.CodeInsufficient},
		{"closed receiver", "alice", "shut", "1.00", contract.CodeAccountClosed},
	}
	for i, tc := range cases {
		t.Run(tc.name+" aborts with "+string(tc.reason), func(t *testing.T) {
			tr := b.transfer(tc.from, fmt.Sprintf("t-%d", i), tc.to, tc.amount)
			if tr.Status != contract.TransferAborted || tr.Reason != tc.reason || tr.Message == "" {
				t.Fatalf("transfer = %+v, want aborted with %s and a message", tr, tc.reason)
			}
		})
	}
	b.settled()
	if a, c := b.balance("alice"), b.balance("bob"); a != "50.00" || c != "0.00" {
		t.Fatalf("balances %s, %s after refused transfers", a, c)
	}
}

// TestBadTransferRequestsAreRefusedBeforeAnythingIsLogged: these get an error reply, and leave no
// log row and no hold.
func TestBadTransferRequestsAreRefusedBeforeAnythingIsLogged(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	b.open("alice", "account-1", "EUR")
	b.deposit("alice", "5.00")
	cases := []struct {
		name, from, body string
		code             contract.Code
	}{
		{"malformed JSON", "alice", `{"id":`, contract.CodeBadRequest},
		{"unknown field", "alice", `{"id":"t","to":"bob","amount":"1","x":1}`, contract.CodeBadRequest},
		{"missing id", "alice", `{"to":"bob","amount":"1"}`, contract.CodeInvalidID},
		{"bad receiver id", "alice", `{"id":"t","to":"b.b","amount":"1"}`, contract.CodeInvalidID},
		{"same account", "alice", `{"id":"t","to":"alice","amount":"1"}`, contract.CodeSameAccount},
		{"negative amount", "alice", `{"id":"t","to":"bob","amount":"-1"}`, contract.CodeInvalidAmount},
		{"zero amount", "alice", `{"id":"t","to":"bob","amount":"0"}`, contract.CodeInvalidAmount},
		{"float amount", "alice", `{"id":"t","to":"bob","amount":1.5}`, contract.CodeBadRequest},
		{"payer id with bad characters", "al!ce", `{"id":"t","to":"bob","amount":"1"}`, contract.CodeInvalidID},
		{"a field twice", "alice", `{"id":"t","to":"bob","amount":"1.00","amount":"5.00"}`, contract.CodeBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is "+string(tc.code), func(t *testing.T) {
			msg, err := b.nc.Request(contract.TransferSubject(tc.from), []byte(tc.body), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if got := msg.Header.Get(contract.ErrorCodeHeader); got != string(tc.code) {
				t.Fatalf("reply %s (code %q), want %s", msg.Data, got, tc.code)
			}
		})
	}
	var rows int
	if err := b.pool("coordinator").QueryRow(ctx(t), `SELECT count(*) FROM transfers`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("log rows = %d, %v; want none", rows, err)
	}
	if _, hold, pend, prep := b.ledger(); hold+pend+prep != 0 {
		t.Fatalf("holds left: %d %d %d", hold, pend, prep)
	}
}

// TestTransfersThatCannotFitTheirAccountsAreRefusedBeforeAnythingIsLogged pins a bug: an amount
// with more decimals than the currency has, an unknown payee or payer, and two currencies were
// logged as aborted transfers, using up the request id, while "-1.00" and "0" got an error reply.
// Now they get an error reply too, with nothing logged or held, and the same id then goes through
// with a good request; "too large" names the currency's maximum.
func TestTransfersThatCannotFitTheirAccountsAreRefusedBeforeAnythingIsLogged(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	b.open("alice", "account-1", "EUR")
	b.open("bob", "account-2", "EUR")
	b.open("yen", "account-2", "JPY")
	b.deposit("alice", "50.00")
	cases := []struct {
		name, from, to, amount string
		code                   contract.Code
		message                string
	}{
		{"more decimals than the currency has", "alice", "bob", "1.005", contract.CodeInvalidAmount, "EUR allows at most 2 decimals"},
		{"currency mismatch, and an amount the payee's currency cannot hold", "alice", "yen", "1.5", contract.CodeCurrencyMismatch, "alice is in EUR and yen in JPY"},
		{"currency mismatch", "alice", "yen", "1", contract.CodeCurrencyMismatch, "alice is in EUR and yen in JPY"},
		{"unknown payee", "alice", "nobody", "1.00", contract.CodeAccountNotFound, "nobody, the receiving account"},
		{"unknown payer", "nobody", "bob", "1.00", contract.CodeAccountNotFound, "nobody, the paying account"},
		{"too large by its digits", "alice", "bob", "99999999999999999999", contract.CodeInvalidAmount, "the maximum is 10000000000000.00 EUR"},
		{"too large by a cent", "alice", "bob", "10000000000000.01", contract.CodeInvalidAmount, "the maximum is 10000000000000.00 EUR"},
	}
	for i, tc := range cases {
		t.Run(tc.name+" is "+string(tc.code), func(t *testing.T) {
			id := fmt.Sprintf("t-%d", i)
			_, err := b.c.Transfer(ctx(t), tc.from, contract.TransferRequest{ID: id, To: tc.to, Amount: tc.amount})
			wantCode(t, err, tc.code)
			if !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("error %q, want it to say %q", err, tc.message)
			}
			if tc.from != "alice" {
				return
			}
			// The id was not used up: the same id with a good request commits.
			if tr := b.transfer("alice", id, "bob", "1.00"); tr.Status != contract.TransferCommitted {
				t.Fatalf("the same id with a good request: %+v", tr)
			}
		})
	}
	var rows, aborted int
	err := b.pool("coordinator").QueryRow(ctx(t), `SELECT count(*), count(*) FILTER (WHERE outcome = 'aborted') FROM transfers`).Scan(&rows, &aborted)
	if err != nil || rows != 6 || aborted != 0 {
		t.Fatalf("log rows %d, aborted %d, %v; want the 6 good retries only", rows, aborted, err)
	}
	b.settled()
	if a, c := b.balance("alice"), b.balance("bob"); a != "44.00" || c != "6.00" {
		t.Fatalf("balances %s, %s", a, c)
	}
}

// TestConcurrentTransfersConserveMoney runs many concurrent transfers among a few hot accounts on
// two nodes: the total never changes, no balance goes negative, and no hold is left.
func TestConcurrentTransfersConserveMoney(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	accounts := []string{"a1", "a2", "b1", "b2"}
	for i, id := range accounts {
		b.open(id, nodeNames[i/2], "EUR")
		b.deposit(id, "100.00")
	}
	before, _, _, _ := b.ledger()
	const clients, each = 16, 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(c), 7))
			for i := range each {
				from := accounts[r.IntN(len(accounts))]
				to := accounts[r.IntN(len(accounts))]
				if from == to {
					continue
				}
				amount := fmt.Sprintf("%d.%02d", r.IntN(60), r.IntN(100))
				if amount == "0.00" {
					amount = "0.01"
				}
				tr, err := b.c.Transfer(ctx(t), from, contract.TransferRequest{ID: fmt.Sprintf("c%d-%d", c, i), To: to, Amount: amount})
				mu.Lock()
				if err != nil {
					outcomes["error "+string(contract.CodeOf(err))]++
				} else {
					outcomes[string(tr.Status)+" "+string(tr.Reason)]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	b.settled()
	after, _, _, _ := b.ledger()
	if after != before {
		t.Fatalf("total balance went from %d to %d", before, after)
	}
	var negative int
	for _, name := range nodeNames {
		if err := b.pool(name).QueryRow(ctx(t), `SELECT count(*) FROM accounts WHERE balance < 0`).Scan(&negative); err != nil || negative != 0 {
			t.Fatalf("%d negative balances on %s, %v", negative, name, err)
		}
	}
	if outcomes["committed "] == 0 || outcomes["aborted insufficient_funds"] == 0 {
		t.Fatalf("outcomes %v: the workload should both commit and run out of funds", outcomes)
	}
	t.Logf("outcomes: %v", outcomes)
}

func TestTransferToANodeThatIsDownAbortsQuickly(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	b.open("alice", "account-1", "EUR")
	b.open("bob", "account-2", "EUR")
	b.deposit("alice", "10.00")
	b.stopNode("account-2")
	start := time.Now()
	tr := b.transfer("alice", "t-1", "bob", "1.00")
	if tr.Status != contract.TransferAborted || tr.Reason != contract.CodeNodeUnavailable {
		t.Fatalf("transfer = %+v, want aborted with node_unavailable", tr)
	}
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Fatalf("took %s: a missing node should not wait for the prepare timeout", d)
	}
	if a := b.balance("alice"); a != "10.00" {
		t.Fatalf("alice %s", a)
	}
	var hold int64
	if err := b.pool("account-1").QueryRow(ctx(t), `SELECT on_hold FROM accounts WHERE id = 'alice'`).Scan(&hold); err != nil || hold != 0 {
		t.Fatalf("alice on hold %d, %v", hold, err)
	}
}

// TestTwoCoordinatorsShareOneLog runs two coordinator instances over one log while transfers flow
// and a stuck transfer waits for recovery: both recover, neither decides anything twice, and every
// leg agrees with the log.
func TestTwoCoordinatorsShareOneLog(t *testing.T) {
	t.Parallel()
	b := aliceAndBob(t)
	b.deposit("bob", "100.00")
	b.logTransfer("stuck", "30.00")
	b.mustVoteYes("account-1", "alice", "stuck", "debit")
	b.startCoordinator()
	b.startCoordinator()
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				from, to := "alice", "bob"
				if (c+i)%2 == 0 {
					from, to = to, from
				}
				if _, err := b.c.Transfer(ctx(t), from, contract.TransferRequest{ID: fmt.Sprintf("s%d-%d", c, i), To: to, Amount: "1.00"}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	b.settled()
	if total, _, _, _ := b.ledger(); total != 20000 {
		t.Fatalf("total %d, want 20000", total)
	}
	rows, err := b.pool("coordinator").Query(ctx(t), `SELECT transfer_id, outcome FROM transfers`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, outcome string
		if err := rows.Scan(&id, &outcome); err != nil {
			t.Fatal(err)
		}
		for _, name := range nodeNames {
			var bad int
			if err := b.pool(name).QueryRow(ctx(t), `SELECT count(*) FROM holds WHERE transfer_id = $1 AND state <> $2`, id, outcome).Scan(&bad); err != nil || bad != 0 {
				t.Fatalf("%s is %s in the log but %d legs on %s disagree (%v)", id, outcome, bad, name, err)
			}
		}
	}
	if state, outcome := b.logState("stuck"); state != transfer.Done || outcome != contract.TransferAborted {
		t.Fatalf("stuck transfer is %s/%s", state, outcome)
	}
}

// TestConcurrentTransfersOutOfOneAccountAreRefusedOneByOne sends 30 transfers of 10.00 at once out
// of an account holding 100.00, to accounts on both nodes: their legs travel in shared batches
// and node transactions (ADR 0024), and exactly 10 commit while the others are refused with
// insufficient_funds, each on its own; no money appears or disappears.
func TestConcurrentTransfersOutOfOneAccountAreRefusedOneByOne(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	b.open("alice", "account-1", "EUR")
	b.open("bob", "account-2", "EUR")
	b.open("carol", "account-1", "EUR")
	b.deposit("alice", "100.00")
	var wg sync.WaitGroup
	var mu sync.Mutex
	ended := map[string]int{}
	for i := range 30 {
		wg.Go(func() {
			to := []string{"bob", "carol"}[i%2]
			tr, err := b.c.Transfer(ctx(t), "alice", contract.TransferRequest{ID: fmt.Sprintf("t-%d", i), To: to, Amount: "10.00"})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				ended["error "+err.Error()]++
			case tr.Status == contract.TransferCommitted:
				ended["committed"]++
			default:
				ended[string(tr.Status)+" "+string(tr.Reason)]++
			}
		})
	}
	wg.Wait()
	if ended["committed"] != 10 || ended["aborted insufficient_funds"] != 20 {
		t.Fatalf("outcomes %v; want 10 committed and 20 aborted insufficient_funds", ended)
	}
	b.settled()
	balances, onHold, pendingIn, _ := b.ledger()
	if a := b.balance("alice"); a != "0.00" || balances != 10000 || onHold != 0 || pendingIn != 0 {
		t.Fatalf("alice %s, all balances %d, on hold %d, pending %d (minor units); want 0.00, 10000, 0, 0", a, balances, onHold, pendingIn)
	}
}

// TestATransferWhoseDecisionCannotBeWrittenIsAnsweredOutcomeUnknown: the coordinator's log
// refuses the decision (a trigger raises, as a Postgres stop would fail it) after both legs were
// prepared. The coordinator cannot tell the client what happened, so it says so, with the status
// to ask, instead of `internal`, which a client reads as a failure (during a Postgres stop one
// transfer answered `internal` had in fact committed). Once the log works again, the transfer is
// resolved (presumed abort, as it was never decided) and its status says so.
func TestATransferWhoseDecisionCannotBeWrittenIsAnsweredOutcomeUnknown(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	b.open("alice", "account-1", "EUR")
	b.open("bob", "account-2", "EUR")
	b.deposit("alice", "100.00")
	log := b.pool("coordinator")
	if _, err := log.Exec(ctx(t), `CREATE FUNCTION refuse_decisions() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN RAISE EXCEPTION 'the log refuses decisions'; END $$;
		CREATE TRIGGER refuse_decisions BEFORE UPDATE ON transfers FOR EACH ROW
			WHEN (NEW.outcome IS NOT NULL) EXECUTE FUNCTION refuse_decisions()`); err != nil {
		t.Fatal(err)
	}
	_, err := b.c.Transfer(ctx(t), "alice", contract.TransferRequest{ID: "t-doubt", To: "bob", Amount: "10.00"})
	if code := contract.CodeOf(err); code != contract.CodeOutcomeUnknown || !strings.Contains(err.Error(), "bank.transfer.alice.status") {
		t.Fatalf("transfer whose decision failed: %v; want %s naming the status subject", err, contract.CodeOutcomeUnknown)
	}
	if _, err := log.Exec(ctx(t), `DROP TRIGGER refuse_decisions ON transfers; DROP FUNCTION refuse_decisions()`); err != nil {
		t.Fatal(err)
	}
	b.settled()
	st, err := b.c.TransferStatus(ctx(t), "alice", "t-doubt")
	if err != nil || st.Status != contract.TransferAborted || !st.Done {
		t.Fatalf("status after the log recovered: %+v, %v; want aborted and done", st, err)
	}
	if a, c := b.balance("alice"), b.balance("bob"); a != "100.00" || c != "0.00" {
		t.Fatalf("balances alice %s, bob %s; want 100.00, 0.00", a, c)
	}
}

// TestTheServicesOwnStatsCountErrorsAndTime reads $SRV.STATS, as `nats micro stats` does, after
// transfers and refused requests: the coordinator's transfer endpoint counts every request and
// every error reply, and its average time is that of a transfer (two phases, several durable
// commits), not the microseconds of handing a request to a goroutine (issue 12: `Errors 0` after
// dozens of error replies, 9 µs for transfers of 15 ms).
func TestTheServicesOwnStatsCountErrorsAndTime(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	b.open("alice", "account-1", "EUR")
	b.open("bob", "account-2", "EUR")
	b.deposit("alice", "100.00")
	for i := range 5 {
		b.transfer("alice", fmt.Sprintf("t-%d", i), "bob", "1.00")
		if _, err := b.c.Transfer(ctx(t), "alice", contract.TransferRequest{ID: fmt.Sprintf("bad-%d", i), To: "nobody", Amount: "1.00"}); contract.CodeOf(err) != contract.CodeAccountNotFound {
			t.Fatalf("a transfer to nobody: %v", err)
		}
	}
	m, err := b.nc.Request("$SRV.STATS.coordinator", nil, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var st micro.Stats
	if err := json.Unmarshal(m.Data, &st); err != nil {
		t.Fatal(err)
	}
	for _, e := range st.Endpoints {
		if e.Name != "transfer" {
			continue
		}
		if e.NumRequests != 10 || e.NumErrors != 5 || !strings.HasPrefix(e.LastError, string(contract.CodeAccountNotFound)+":") {
			t.Fatalf("transfer endpoint stats %+v; want 10 requests, 5 errors, the last account_not_found", e)
		}
		if e.AverageProcessingTime < 200*time.Microsecond {
			t.Fatalf("average %v: a transfer takes longer than handing it to a goroutine", e.AverageProcessingTime)
		}
		t.Logf("transfer: %d requests, %d errors, average %v", e.NumRequests, e.NumErrors, e.AverageProcessingTime)
		return
	}
	t.Fatalf("no transfer endpoint in %+v", st)
}

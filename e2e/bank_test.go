package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/contract/decisionsig"
	accountserver "tsbank/services/account/server"
	coordinator "tsbank/services/coordinator/server"
	historyserver "tsbank/services/history/server"
	"tsbank/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// bank is a nats-server, two account nodes and a coordinator, each service with its own database.
type bank struct {
	t     testing.TB
	ns    *server.Server
	nc    *nats.Conn
	c     *client.Client
	dbs   map[string]string // account node name or "coordinator" -> database URL
	nodes map[string]*accountserver.Server
	coord *coordinator.Server
	hist  *historyserver.Server
	env   map[string]string // extra configuration for every service
	pools map[string]*pgxpool.Pool
	seed  string // the coordinator's signing key, with which tests that play the coordinator sign
}

var nodeNames = []string{"account-1", "account-2"}

// testEnv makes the timeouts short, so that recovery paths run within a test.
var testEnv = map[string]string{
	"PREPARE_TIMEOUT": "500ms", "SEND_TIMEOUT": "500ms", "MAX_BACKOFF": "1s", "RECOVER_INTERVAL": "100ms",
	"HOLD_MAX_AGE": "1s", "HOLD_CHECK_INTERVAL": "100ms", "OUTBOX_POLL": "100ms", "REQUEST_TIMEOUT": "5s",
	"MOVE_DRAIN": "1s",
}

// newBank starts NATS and the databases; the services are started by the caller.
func newBank(t testing.TB) *bank {
	t.Helper()
	return newBankOn(t, testkit.Postgres)
}

// newBankOn is newBank with its databases from postgres (testkit.Postgres or
// testkit.DurablePostgres).
func newBankOn(t testing.TB, postgres func(testing.TB, string) string) *bank {
	t.Helper()
	b := &bank{t: t, ns: testkit.StartNATS(t), dbs: map[string]string{}, nodes: map[string]*accountserver.Server{},
		env: map[string]string{}, pools: map[string]*pgxpool.Pool{}}
	for k, v := range testEnv {
		b.env[k] = v
	}
	b.env["NATS_URL"] = b.ns.ClientURL()
	seed, public, err := decisionsig.Generate()
	if err != nil {
		t.Fatal(err)
	}
	b.seed, b.env["COORDINATOR_SIGNING_KEY"], b.env["COORDINATOR_PUBLIC_KEYS"] = seed, seed, public
	for _, name := range nodeNames {
		b.dbs[name] = postgres(t, "account")
	}
	b.dbs["coordinator"] = postgres(t, "coordinator")
	b.dbs["history"] = postgres(t, "history")
	b.nc = testkit.Connect(t, b.ns)
	b.c = client.New(b.nc)
	return b
}

// startBank starts a bank with every service running.
func startBank(t testing.TB) *bank {
	t.Helper()
	b := newBank(t)
	for _, name := range nodeNames {
		b.startNode(name)
	}
	b.startCoordinator()
	return b
}

func (b *bank) getenv(extra map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := extra[k]; ok {
			return v
		}
		return b.env[k]
	}
}

func (b *bank) startNode(name string) {
	b.t.Helper()
	cfg, err := accountserver.ConfigFromEnv(b.getenv(map[string]string{
		"ACCOUNT_NODE": name, "DATABASE_URL": b.dbs[name], "HTTP_ADDR": "127.0.0.1:0",
	}))
	if err != nil {
		b.t.Fatal(err)
	}
	n, err := accountserver.Start(context.Background(), cfg, testkit.Logger(b.t))
	if err != nil {
		b.t.Fatalf("start %s: %v", name, err)
	}
	b.nodes[name] = n
	b.t.Cleanup(func() { n.Stop(5 * time.Second) })
}

func (b *bank) stopNode(name string) { b.nodes[name].Stop(5 * time.Second) }

// runNode runs the node as its process does (accountserver.Run: serve, and wait as a standby again when
// the lease is lost), until the test ends. The channel receives what Run returned, if it returned
// before then: for a node process, an exit.
func (b *bank) runNode(name string) <-chan error {
	b.t.Helper()
	cfg, err := accountserver.ConfigFromEnv(b.getenv(map[string]string{
		"ACCOUNT_NODE": name, "DATABASE_URL": b.dbs[name], "HTTP_ADDR": "127.0.0.1:0",
	}))
	if err != nil {
		b.t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	exited, done := make(chan error, 1), make(chan struct{})
	go func() {
		defer close(done)
		if err := accountserver.Run(rctx, cfg, testkit.Logger(b.t)); rctx.Err() == nil {
			exited <- fmt.Errorf("node %s exited: %v", name, err)
		}
	}()
	b.t.Cleanup(func() { cancel(); <-done })
	return exited
}

func (b *bank) startCoordinator() {
	b.t.Helper()
	cfg, err := coordinator.ConfigFromEnv(b.getenv(map[string]string{
		"DATABASE_URL": b.dbs["coordinator"], "HTTP_ADDR": "127.0.0.1:0",
	}))
	if err != nil {
		b.t.Fatal(err)
	}
	s, err := coordinator.Start(context.Background(), cfg, testkit.Logger(b.t))
	if err != nil {
		b.t.Fatalf("start coordinator: %v", err)
	}
	b.coord = s
	b.t.Cleanup(func() { s.Stop(5 * time.Second) })
}

func (b *bank) startHistory() {
	b.t.Helper()
	cfg, err := historyserver.ConfigFromEnv(b.getenv(map[string]string{
		"DATABASE_URL": b.dbs["history"], "HTTP_ADDR": "127.0.0.1:0", "INGEST_BATCH": "50",
	}))
	if err != nil {
		b.t.Fatal(err)
	}
	s, err := historyserver.Start(context.Background(), cfg, testkit.Logger(b.t))
	if err != nil {
		b.t.Fatalf("start history: %v", err)
	}
	b.hist = s
	b.t.Cleanup(func() { s.Stop(5 * time.Second) })
}

// historyMatchesOutboxes waits until the history holds exactly the events of every node's outbox:
// each once, none missing, none extra.
func (b *bank) historyMatchesOutboxes() int {
	b.t.Helper()
	var n int
	testkit.CheckFor(b.t, 30*time.Second, 50*time.Millisecond, func() error {
		want := map[string]bool{}
		for _, name := range nodeNames {
			rows, err := b.pool(name).Query(ctx(b.t), `SELECT event_id::text FROM outbox`)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					return err
				}
				want[id] = true
			}
			rows.Close()
		}
		rows, err := b.pool("history").Query(ctx(b.t), `SELECT event_id::text FROM transactions`)
		if err != nil {
			return err
		}
		defer rows.Close()
		got := 0
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			if !want[id] {
				return fmt.Errorf("history has %s, which no outbox has", id)
			}
			got++
		}
		if got != len(want) {
			return fmt.Errorf("history has %d events, the outboxes %d", got, len(want))
		}
		n = got
		return nil
	})
	return n
}

// reconciled asks the history to reconcile the whole bank and fails on any difference.
func (b *bank) reconciled() {
	b.t.Helper()
	var r contract.Reconciliation
	if err := b.c.Call(ctx(b.t), contract.SubjectReconcile, contract.ReconcileRequest{}, &r); err != nil {
		b.t.Fatal(err)
	}
	if len(r.Differences) != 0 || r.Accounts == 0 {
		b.t.Fatalf("reconciliation over %d accounts: %+v", r.Accounts, r.Differences)
	}
}

func (b *bank) pool(name string) *pgxpool.Pool {
	b.t.Helper()
	if p, ok := b.pools[name]; ok {
		return p
	}
	p, err := pgxpool.New(context.Background(), b.dbs[name])
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(p.Close)
	b.pools[name] = p
	return p
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return c
}

func (b *bank) open(id, nodeName, currency string) {
	b.t.Helper()
	if _, err := b.c.Open(ctx(b.t), id, contract.OpenRequest{ID: "o-" + id, Currency: currency, Node: nodeName}); err != nil {
		b.t.Fatalf("open %s: %v", id, err)
	}
}

func (b *bank) deposit(id, amount string) {
	b.t.Helper()
	if _, err := b.c.Deposit(ctx(b.t), id, contract.MoneyRequest{ID: fmt.Sprintf("seed-%d", time.Now().UnixNano()), Amount: amount}); err != nil {
		b.t.Fatalf("deposit into %s: %v", id, err)
	}
}

func (b *bank) balance(id string) string {
	b.t.Helper()
	bal, err := b.c.Balance(ctx(b.t), id)
	if err != nil {
		b.t.Fatalf("balance %s: %v", id, err)
	}
	return bal.Balance
}

func (b *bank) transfer(from, id, to, amount string) contract.Transfer {
	b.t.Helper()
	tr, err := b.c.Transfer(ctx(b.t), from, contract.TransferRequest{ID: id, To: to, Amount: amount})
	if err != nil {
		b.t.Fatalf("transfer %s: %v", id, err)
	}
	return tr
}

// ledger sums, over every node's database, the balances (of the accounts each serves: one that
// moved away keeps its last row on the node it left), holds and pending credits (minor units),
// and counts legs still prepared.
func (b *bank) ledger() (balances, onHold, pendingIn, prepared int64) {
	b.t.Helper()
	for _, name := range nodeNames {
		var bal, hold, pend, prep int64
		err := b.pool(name).QueryRow(ctx(b.t), `SELECT coalesce(sum(balance), 0), coalesce(sum(on_hold), 0), coalesce(sum(pending_in), 0),
			(SELECT count(*) FROM holds WHERE state = 'prepared') FROM accounts WHERE move_state <> 'gone'`).Scan(&bal, &hold, &pend, &prep)
		if err != nil {
			b.t.Fatal(err)
		}
		balances, onHold, pendingIn, prepared = balances+bal, onHold+hold, pendingIn+pend, prepared+prep
	}
	return
}

// settled waits until no transfer is pending in the coordinator's log and no leg is held.
func (b *bank) settled() {
	b.t.Helper()
	testkit.CheckFor(b.t, 20*time.Second, 50*time.Millisecond, func() error {
		var open int
		if err := b.pool("coordinator").QueryRow(ctx(b.t), `SELECT (SELECT count(*) FROM transfers WHERE state <> 'done')
			+ (SELECT count(*) FROM payments WHERE state <> 'done')`).Scan(&open); err != nil {
			return err
		}
		_, hold, pend, prep := b.ledger()
		if open != 0 || hold != 0 || pend != 0 || prep != 0 {
			var detail string
			_ = b.pool("coordinator").QueryRow(ctx(b.t), `SELECT coalesce(string_agg(format('%s %s/%s votes %s,%s acked %s,%s resends %s',
				transfer_id, state, coalesce(outcome, '-'), debit_vote, credit_vote, debit_acked, credit_acked, resends), '; '), '')
				FROM transfers WHERE state <> 'done'`).Scan(&detail)
			return fmt.Errorf("%d transfers or payments not done (%s), on hold %d, pending in %d, %d legs prepared", open, detail, hold, pend, prep)
		}
		return nil
	})
}

// legState is the state of one leg on its node ("" if the node has no row for it).
func (b *bank) legState(nodeName, transferID, leg string) string {
	b.t.Helper()
	var state string
	err := b.pool(nodeName).QueryRow(ctx(b.t), `SELECT coalesce((SELECT state FROM holds WHERE transfer_id = $1 AND leg = $2), '')`, transferID, leg).Scan(&state)
	if err != nil {
		b.t.Fatal(err)
	}
	return state
}

// logState is a transfer's state and outcome in the coordinator's log.
func (b *bank) logState(transferID string) (state, outcome contract.TransferState) {
	b.t.Helper()
	err := b.pool("coordinator").QueryRow(ctx(b.t), `SELECT state, coalesce(outcome, '') FROM transfers WHERE transfer_id = $1`, transferID).Scan(&state, &outcome)
	if err != nil {
		b.t.Fatal(err)
	}
	return state, outcome
}

// sign signs s as the coordinator does.
func (b *bank) sign(s decisionsig.Statement) string {
	b.t.Helper()
	kp, err := decisionsig.ParseSeed(b.seed)
	if err != nil {
		b.t.Fatal(err)
	}
	sig, err := decisionsig.Sign(kp, s)
	if err != nil {
		b.t.Fatal(err)
	}
	return sig
}

func wantCode(t testing.TB, err error, code contract.Code) {
	t.Helper()
	if got := contract.CodeOf(err); got != code {
		t.Fatalf("error = %v, want code %s", err, code)
	}
}

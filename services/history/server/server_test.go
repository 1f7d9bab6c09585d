package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/contract/money"
	"tsbank/services/history/history"
	"tsbank/services/history/pgstore"
	hserver "tsbank/services/history/server"
	"tsbank/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// fixture is a nats-server with the events stream and the registry, a history database and (once
// started) the history service; no account node runs, so every row and registry entry is made by
// the test.
type fixture struct {
	t     testing.TB
	ns    *server.Server
	nc    *nats.Conn
	js    jetstream.JetStream
	kv    jetstream.KeyValue // the registry, as the nodes create it
	c     *client.Client
	db    string
	pool  *pgxpool.Pool
	store *pgstore.Store
	srv   *hserver.Server
	log   *slog.Logger // the service's logger; testkit.Logger if nil
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	skipShort(t)
	return newFixtureOn(t, testkit.Postgres(t, "history"))
}

// skipShort skips a test or benchmark of the running service under -short: it needs NATS and
// Postgres, and the fast tier runs the use cases on their in-memory ports instead.
func skipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs NATS and PostgreSQL")
	}
}

// newFixtureOn is newFixture on the history database db: the benchmarks' is on a durable server
// (testkit.DurablePostgres), the tests' on the fast one.
func newFixtureOn(t testing.TB, db string) *fixture {
	t.Helper()
	f := &fixture{t: t, ns: testkit.StartNATS(t), db: db}
	f.nc = testkit.Connect(t, f.ns)
	f.c = client.New(f.nc)
	var err error
	if f.js, err = jetstream.New(f.nc); err != nil {
		t.Fatal(err)
	}
	// The stream, the registry and the consumer are provisioned by testkit.StartNATS.
	if f.kv, err = f.js.KeyValue(context.Background(), contract.AccountsBucket); err != nil {
		t.Fatal(err)
	}
	if f.pool, err = pgxpool.New(context.Background(), f.db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.pool.Close)
	f.store = pgstore.New(f.pool)
	return f
}

func (f *fixture) start(extra ...string) {
	f.t.Helper()
	vars := map[string]string{"DATABASE_URL": f.db, "NATS_URL": f.ns.ClientURL(), "HTTP_ADDR": "127.0.0.1:0", "CURSOR_SECRET": "test"}
	for i := 0; i+1 < len(extra); i += 2 {
		vars[extra[i]] = extra[i+1]
	}
	cfg, err := hserver.ConfigFromEnv(func(k string) string { return vars[k] })
	if err != nil {
		f.t.Fatal(err)
	}
	log := f.log
	if log == nil {
		log = testkit.Logger(f.t)
	}
	if f.srv, err = hserver.Start(context.Background(), cfg, log); err != nil {
		f.t.Fatal(err)
	}
	srv := f.srv
	f.t.Cleanup(func() { srv.Stop(5 * time.Second) })
}

var eur, _ = money.LookupCurrency("EUR")

// event makes the i-th event of account: a deposit of i+1 cents at base + i seconds, numbered i+1.
func event(account string, i int, base time.Time) contract.Event {
	return contract.Event{
		ID: fmt.Sprintf("00000000-0000-7000-8000-%012d", i), Version: contract.EventVersion, Type: contract.EventDeposit,
		Account: account, Node: "account-1", Amount: money.Format(int64(i+1), eur), AmountMinor: int64(i + 1), Currency: "EUR",
		BalanceAfter: money.Format(int64((i+1)*(i+2)/2), eur), BalanceMinor: int64((i + 1) * (i + 2) / 2),
		Time: base.Add(time.Duration(i) * time.Second), Seq: int64(i + 1),
	}
}

// publish puts events on the stream as their node does: the account registered to the node, the
// event on the node's outbox subject.
func (f *fixture) publish(events ...contract.Event) {
	f.t.Helper()
	for _, e := range events {
		f.register(e.Account, e.Node)
		f.publishOn(contract.OutboxSubject(e.Node, e.Account, e.Type), e)
	}
}

// register makes node the owner of account, unless some node already is.
func (f *fixture) register(account, node string) {
	f.t.Helper()
	if _, err := f.kv.Create(context.Background(), account, []byte(node)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		f.t.Fatal(err)
	}
}

// publishOn puts event e on the stream on subject, whoever may publish there.
func (f *fixture) publishOn(subject string, e contract.Event) {
	f.t.Helper()
	data, _ := json.Marshal(e)
	if _, err := f.js.PublishMsg(context.Background(), &nats.Msg{Subject: subject, Data: data}, jetstream.WithMsgID(e.ID)); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) count() int {
	f.t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM transactions`).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) waitFor(n int) {
	f.t.Helper()
	testkit.CheckFor(f.t, 20*time.Second, 20*time.Millisecond, func() error {
		if got := f.count(); got != n {
			return fmt.Errorf("%d rows, want %d", got, n)
		}
		return nil
	})
}

// TestIngestAfterACrashHalfWayThroughABatch: a consumer that died after its insert committed and
// before it acknowledged leaves those events in the database and on the stream; the next one
// inserts the rest, and each event is in the history once.
func TestIngestAfterACrashHalfWayThroughABatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var events []contract.Event
	for i := range 200 {
		events = append(events, event("alice", i, base))
	}
	f.publish(events...)
	// The dead consumer's half batch: committed, never acknowledged.
	var half []history.Row
	for i, e := range events[:100] {
		half = append(half, history.Row{EventID: e.ID, Account: e.Account, Type: e.Type, Amount: e.AmountMinor, Currency: eur,
			BalanceAfter: e.BalanceMinor, At: e.Time, Node: e.Node, StreamSeq: uint64(i + 1), AccountSeq: e.Seq})
	}
	if _, err := f.store.Insert(context.Background(), half); err != nil {
		t.Fatal(err)
	}
	f.start("INGEST_BATCH", "64")
	f.waitFor(200)
	// Replaying the whole stream again changes nothing.
	f.publish(events...)
	var sum int64
	if err := f.pool.QueryRow(context.Background(), `SELECT sum(amount_minor) FROM transactions`).Scan(&sum); err != nil || sum != 200*201/2 {
		t.Fatalf("sum = %d, %v", sum, err)
	}
	if f.count() != 200 {
		t.Fatalf("%d rows after a replay", f.count())
	}
}

func TestUnreadableEventsAreSetAsideNotRetriedForEver(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start()
	if _, err := f.js.Publish(context.Background(), contract.OutboxSubject("account-1", "alice", contract.EventDeposit), []byte("not json")); err != nil {
		t.Fatal(err)
	}
	bad := event("alice", 1, time.Now())
	bad.Version = 99
	unnumbered := event("alice", 3, time.Now())
	unnumbered.Seq = 0
	good := event("alice", 2, time.Now())
	f.publish(bad, unnumbered, good)
	f.waitFor(1)
	testkit.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		resp, err := http.Get("http://" + f.srv.HTTPAddr() + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), "tsbank_history_events_rejected_total 3\n") {
			return fmt.Errorf("rejected counter is not 3")
		}
		return nil
	})
}

// TestAnAccountsEventsAreOrderedByTheirNumberNotTheStream puts an account's three events on the
// stream as 3, 1, 2 (as a resumed relay can) at one timestamp: the statement and the summary
// follow the account's numbering, not the stream's order.
func TestAnAccountsEventsAreOrderedByTheirNumberNotTheStream(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var events []contract.Event
	for i := range 3 {
		e := event("alice", i, at)
		e.Time = at
		events = append(events, e)
	}
	f.publish(events[2], events[0], events[1])
	f.start()
	f.waitFor(3)
	opening, rows, err := f.store.Period(context.Background(), "alice", at.Add(-time.Hour), at.Add(time.Hour))
	if err != nil || opening != 0 || len(rows) != 3 {
		t.Fatalf("period = %d, %d rows, %v", opening, len(rows), err)
	}
	for i, r := range rows {
		if r.EventID != events[i].ID {
			t.Fatalf("row %d is %s, want %s (the account's order)", i, r.EventID, events[i].ID)
		}
	}
	s, err := f.store.Summaries(context.Background(), "alice")
	if err != nil || len(s) != 1 || s[0].LastBalance != events[2].BalanceMinor || s[0].LastSeq != 3 || s[0].Sum != s[0].LastBalance {
		t.Fatalf("summary = %+v, %v; want the balance after event 3", s, err)
	}
}

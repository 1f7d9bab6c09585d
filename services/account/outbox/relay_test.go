package outbox_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tsbank/contract"
	"tsbank/platform/provision"
	"tsbank/services/account/outbox"
	"tsbank/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

type fixture struct {
	url   string // the NATS server's
	pool  *pgxpool.Pool
	js    jetstream.JetStream
	relay *outbox.Relay
}

func setup(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	ns := testkit.StartNATS(t)
	js, err := jetstream.New(testkit.Connect(t, ns))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, testkit.Postgres(t, "account"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `INSERT INTO accounts (id, currency) VALUES ('alice', 'EUR')`); err != nil {
		t.Fatal(err)
	}
	return &fixture{url: ns.ClientURL(), pool: pool, js: js, relay: outbox.NewRelay(pool, js, testkit.Logger(t), node, 7, time.Hour)}
}

const node = "account-1"

func eventID(i int) string { return fmt.Sprintf("00000000-0000-7000-8000-%012d", i) }

// insertRow writes an outbox row as this node does since the outbox subjects exist.
const insertRow = `INSERT INTO outbox (event_id, account_id, subject, payload) VALUES ($1, 'alice', 'bank.outbox.account-1.alice.deposit', $2)`

// insertOldRow writes an outbox row as a node did before: with the customers' subject.
const insertOldRow = `INSERT INTO outbox (event_id, account_id, subject, payload) VALUES ($1, 'alice', 'bank.events.alice.deposit', $2)`

func payload(i int) []byte { return []byte(fmt.Sprintf(`{"id":%q,"type":"deposit"}`, eventID(i))) }

// streamIDs reads every message on the stream and returns how often each Nats-Msg-Id occurs.
func (f *fixture) streamIDs(t *testing.T) map[string]int {
	t.Helper()
	ids := map[string]int{}
	for _, m := range f.streamMsgs(t) {
		ids[m.Header.Get(nats.MsgIdHdr)]++
	}
	return ids
}

// streamMsgs reads every message on the stream.
func (f *fixture) streamMsgs(t *testing.T) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := f.js.Stream(ctx, contract.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func (f *fixture) drainAll(t *testing.T) {
	t.Helper()
	for {
		n, err := f.relay.Drain(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// A crash between publishing and marking rows sent leaves them published and unsent. The next
// relay publishes them again, and the stream keeps each event once.
func TestRelayDeliversEachEventOnceAfterACrashBetweenPublishAndMarkSent(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	const n = 20
	for i := range n {
		if _, err := f.pool.Exec(ctx, insertRow, eventID(i), payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	// The state a relay killed after publishing the first 12 rows leaves behind.
	for i := range 12 {
		if _, err := f.js.PublishMsg(ctx, &nats.Msg{Subject: contract.OutboxSubject(node, "alice", "deposit"), Data: payload(i)}, jetstream.WithMsgID(eventID(i))); err != nil {
			t.Fatal(err)
		}
	}
	f.drainAll(t)
	ids := f.streamIDs(t)
	if len(ids) != n {
		t.Fatalf("stream has %d distinct events, want %d", len(ids), n)
	}
	for id, k := range ids {
		if k != 1 {
			t.Fatalf("event %s is on the stream %d times", id, k)
		}
	}
	var unsent int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&unsent); err != nil || unsent != 0 {
		t.Fatalf("unsent rows = %d, %v", unsent, err)
	}
}

// A transaction that took a lower seq but commits after a higher one has been relayed is still
// relayed: the relay looks for unsent rows, not past a high-water mark.
func TestRelayNeverSkipsARowThatCommitsLate(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	late, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Rollback(ctx)
	if _, err := late.Exec(ctx, insertRow, eventID(1), payload(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, insertRow, eventID(2), payload(2)); err != nil {
		t.Fatal(err)
	}
	f.drainAll(t)
	if ids := f.streamIDs(t); len(ids) != 1 || ids[eventID(2)] != 1 {
		t.Fatalf("stream = %v, want only the committed row", ids)
	}
	if err := late.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	f.drainAll(t)
	if ids := f.streamIDs(t); len(ids) != 2 || ids[eventID(1)] != 1 {
		t.Fatalf("stream = %v, want both rows once", ids)
	}
}

// Rows written before the upgrade hold the customers' subject, bank.events.<account>.<type>, which
// the stream no longer captures: the relay publishes them, like every row, on the node's outbox
// subject, so none is stuck unsent.
func TestRelayPublishesRowsFromBeforeTheUpgradeOnTheNodesOutboxSubject(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	if _, err := f.pool.Exec(ctx, insertOldRow, eventID(1), payload(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, insertRow, eventID(2), payload(2)); err != nil {
		t.Fatal(err)
	}
	f.drainAll(t)
	msgs := f.streamMsgs(t)
	if len(msgs) != 2 {
		t.Fatalf("stream has %d events, want 2", len(msgs))
	}
	for _, m := range msgs {
		if want := contract.OutboxSubject(node, "alice", "deposit"); m.Subject != want {
			t.Fatalf("event %s is on %s, want %s", m.Header.Get(nats.MsgIdHdr), m.Subject, want)
		}
	}
}

// TestARemovedStreamIsWaitedForAndTheOutboxDrainsWhenItIsBack pins the operator's view of a
// deleted events stream (issue 10): the events wait in the outbox, the relay says once what to
// run instead of every poll, and it relays them as soon as the stream is provisioned again.
func TestARemovedStreamIsWaitedForAndTheOutboxDrainsWhenItIsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	pool, js := f.pool, f.js
	if err := js.DeleteStream(ctx, contract.EventsStream); err != nil {
		t.Fatal(err)
	}
	logged := &testkit.Warnings{}
	relay := outbox.NewRelay(pool, js, slog.New(logged), node, 7, 50*time.Millisecond)
	if _, err := pool.Exec(ctx, insertRow, eventID(1), payload(1)); err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { relay.Run(rctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })

	time.Sleep(time.Second) // many polls
	if got := logged.All(); len(got) != 1 || !strings.Contains(got[0], "tsbankctl provision") {
		t.Fatalf("logged %q, want one message with the command to run", got)
	}
	testkit.Provision(t, f.url, provision.Defaults)
	testkit.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		var unsent int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&unsent); err != nil {
			return err
		}
		if unsent != 0 {
			return fmt.Errorf("%d rows unsent", unsent)
		}
		return nil
	})
	if got := logged.All(); len(got) != 1 {
		t.Fatalf("logged %q after the stream came back", got)
	}
}

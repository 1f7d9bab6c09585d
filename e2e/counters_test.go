package e2e

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"tsbank/contract"
	"tsbank/testkit"
)

// TestTheBanksCountersMatchTheHistory: committed transfers between two nodes, and aborted ones,
// are counted per day, bank-wide and per paying node, with JetStream's counters; each counter
// equals what SQL finds in the history. A batch whose increments were published but not marked
// counted (a crash between the two) is published again, and counts once.
func TestTheBanksCountersMatchTheHistory(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	b.startHistory()
	b.open("alice", "account-1", "EUR")
	b.open("bob", "account-2", "EUR")
	b.deposit("alice", "100.00")
	b.deposit("bob", "100.00")
	for i := range 6 {
		b.transfer("alice", fmt.Sprintf("a-%d", i), "bob", fmt.Sprintf("%d.25", i+1))
	}
	for i := range 3 {
		b.transfer("bob", fmt.Sprintf("b-%d", i), "alice", "2.00")
	}
	if tr := b.transfer("bob", "too-much", "alice", "1000.00"); tr.Status != contract.TransferAborted {
		t.Fatalf("too-much = %+v", tr)
	}
	b.historyMatchesOutboxes()
	js, err := jetstream.New(b.nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx(t), contract.CountersStream)
	if err != nil {
		t.Fatal(err)
	}
	value := func(subject string) int64 {
		m, err := stream.GetLastMsgForSubject(ctx(t), subject)
		if err != nil {
			return 0
		}
		var v struct {
			Val string `json:"val"`
		}
		if err := json.Unmarshal(m.Data, &v); err != nil {
			t.Fatalf("%s: %q: %v", subject, m.Data, err)
		}
		n, _ := strconv.ParseInt(v.Val, 10, 64)
		return n
	}
	// What the history says, per day and paying node, in SQL.
	type key struct{ day, node string }
	expect := func() (map[key][2]int64, map[string][2]int64) {
		perNode, perDay := map[key][2]int64{}, map[string][2]int64{}
		rows, err := b.pool("history").Query(ctx(t), `SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), node, count(*), sum(abs(amount_minor))
			FROM transactions WHERE type = 'transfer_out' GROUP BY 1, 2`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var k key
			var n, v int64
			if err := rows.Scan(&k.day, &k.node, &n, &v); err != nil {
				t.Fatal(err)
			}
			perNode[k] = [2]int64{n, v}
			d := perDay[k.day]
			perDay[k.day] = [2]int64{d[0] + n, d[1] + v}
		}
		return perNode, perDay
	}
	matches := func() error {
		var uncounted int
		if err := b.pool("history").QueryRow(ctx(t), `SELECT count(*) FROM transactions WHERE type = 'transfer_out' AND counted_at IS NULL`).Scan(&uncounted); err != nil {
			return err
		}
		if uncounted > 0 {
			return fmt.Errorf("%d transfers not counted yet", uncounted)
		}
		perNode, perDay := expect()
		for k, want := range perNode {
			if got := [2]int64{value(contract.TransfersCounter(k.day, k.node)), value(contract.VolumeCounter(k.day, k.node, "EUR"))}; got != want {
				return fmt.Errorf("%s on %s: counters %v, history %v", k.node, k.day, got, want)
			}
		}
		for day, want := range perDay {
			if got := [2]int64{value(contract.TransfersCounter(day, "")), value(contract.VolumeCounter(day, "", "EUR"))}; got != want {
				return fmt.Errorf("bank on %s: counters %v, history %v", day, got, want)
			}
		}
		return nil
	}
	testkit.CheckFor(t, 20*time.Second, 50*time.Millisecond, matches)
	day := contract.CounterDay(time.Now())
	if n := value(contract.TransfersCounter(day, "")) + value(contract.TransfersCounter(contract.CounterDay(time.Now().Add(-time.Hour)), "")); n < 9 {
		t.Fatalf("%d transfers counted today, want the 9 committed", n)
	}

	// A crash after the increments, before the mark: the batch is published again, and the
	// duplicate window makes it count once.
	if _, err := b.pool("history").Exec(ctx(t), `UPDATE transactions SET counted_at = NULL
		WHERE count_batch = (SELECT max(count_batch) FROM transactions)`); err != nil {
		t.Fatal(err)
	}
	testkit.CheckFor(t, 20*time.Second, 50*time.Millisecond, matches)
}

package history_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"tsbank/services/history/history"
)

// TestAStatementHasTheBalancesAroundItsPeriod: the opening balance is the one after the last
// event before the period, the closing one after its last event (the opening one if it has none),
// and the totals are the period's.
func TestAStatementHasTheBalancesAroundItsPeriod(t *testing.T) {
	b := newBank(t)
	rows := b.events("alice", 1000, -250, 500, -100) // at 09:01, 09:02, 09:03, 09:04
	for _, c := range []struct {
		name             string
		from, to         string
		opening, closing int64
		want             []history.Row
		totals           history.Totals
	}{
		{"a period inside", "2026-03-01T09:02:00Z", "2026-03-01T09:04:00Z", 1000, 1250, rows[1:3], history.Totals{Count: 2, In: 500, Out: -250}},
		{"a whole day", "2026-03-01", "2026-03-02", 0, 1150, rows, history.Totals{Count: 4, In: 1500, Out: -350}},
		{"a period without events", "2026-03-02", "2026-03-03", 1150, 1150, nil, history.Totals{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := b.svc.Statement(context.Background(), "alice", c.from, c.to)
			if err != nil {
				t.Fatal(err)
			}
			if s.Opening != c.opening || s.Closing != c.closing || s.Totals != c.totals || s.Currency.Code != "EUR" {
				t.Errorf("statement %d → %d in %s, totals %+v; want %d → %d, %+v", s.Opening, s.Closing, s.Currency.Code, s.Totals, c.opening, c.closing, c.totals)
			}
			if !slices.EqualFunc(s.Rows, c.want, func(x, y history.Row) bool { return x.EventID == y.EventID }) {
				t.Errorf("rows %v, want %v", s.Rows, c.want)
			}
		})
	}
	day, _ := b.svc.Statement(context.Background(), "alice", "2026-03-01", "2026-03-02")
	if !day.From.Equal(t0.Truncate(24*time.Hour)) || !day.To.Equal(day.From.Add(24*time.Hour)) {
		t.Errorf("a day's period is %s to %s, want its midnights UTC", day.From, day.To)
	}
}

func TestAStatementRefusesABadPeriodOrAnUnknownAccount(t *testing.T) {
	b := newBank(t)
	b.events("alice", 1000)
	for _, c := range []struct {
		name, account, from, to string
		kind                    error
	}{
		{"no period", "alice", "", "", history.ErrBadRequest},
		{"no end", "alice", "2026-03-01", "", history.ErrBadRequest},
		{"a bad date", "alice", "2026-03-01", "tomorrow", history.ErrBadRequest},
		{"a reversed period", "alice", "2026-03-02", "2026-03-01", history.ErrBadRequest},
		{"an unknown account", "nobody", "2026-03-01", "2026-03-02", history.ErrAccountNotFound},
	} {
		t.Run(c.name+" is refused", func(t *testing.T) {
			_, err := b.svc.Statement(context.Background(), c.account, c.from, c.to)
			wantRefusal(t, err, c.kind)
		})
	}
}

// TestABalanceAtIsExactOrRefusedAsBehind: the balance after the last event before the first after
// the moment; with no event after it here, only once the node's newest event is here too; with a
// gap, refused as history_behind.
func TestABalanceAtIsExactOrRefusedAsBehind(t *testing.T) {
	b := newBank(t)
	b.events("alice", 1000, -250, 500) // at 09:01, 09:02, 09:03
	at := func(account, moment string) (history.PastBalance, error) {
		return b.svc.BalanceAt(context.Background(), account, moment)
	}
	t.Run("between two events, without asking the node", func(t *testing.T) {
		b.nodes.balances = 0
		p, err := at("alice", "2026-03-01T09:02:30Z")
		if err != nil || p.Balance != 750 || p.EventSeq != 2 || p.Currency.Code != "EUR" || !p.At.Equal(t0.Add(150*time.Second)) {
			t.Fatalf("balance at 09:02:30: %+v, %v; want 750 after event 2", p, err)
		}
		if b.nodes.balances != 0 {
			t.Fatalf("the node was asked %d times, though an event after the moment is here", b.nodes.balances)
		}
	})
	t.Run("before the first event, at midnight of a date", func(t *testing.T) {
		p, err := at("alice", "2026-03-01")
		if err != nil || p.Balance != 0 || p.EventSeq != 0 || !p.At.Equal(t0.Truncate(24*time.Hour)) {
			t.Fatalf("balance at midnight: %+v, %v", p, err)
		}
	})
	t.Run("after the newest event, which is the node's newest", func(t *testing.T) {
		p, err := at("alice", "2026-03-02")
		if err != nil || p.Balance != 1250 || p.EventSeq != 3 {
			t.Fatalf("balance after every event: %+v, %v", p, err)
		}
	})
	t.Run("after the newest event here, with a newer one on the node, is history_behind", func(t *testing.T) {
		b.nodes.accounts["alice"] = nodeAccount{currency: eur, balance: 1300, seq: 4}
		defer func() { b.nodes.accounts["alice"] = nodeAccount{currency: eur, balance: 1250, seq: 3} }()
		_, err := at("alice", "2026-03-02")
		wantRefusal(t, err, history.ErrHistoryBehind)
	})
	t.Run("with an event missing below the moment is history_behind", func(t *testing.T) {
		b.insert(b.row("bob", 1, 100, 100), b.row("bob", 3, 100, 300))
		_, err := at("bob", "2026-03-01T09:02:30Z")
		wantRefusal(t, err, history.ErrHistoryBehind)
	})
	t.Run("when the node cannot say whether a newer event exists, its failure is passed on", func(t *testing.T) {
		b.nodes.down["alice"] = true
		defer delete(b.nodes.down, "alice")
		_, err := at("alice", "2026-03-02")
		if e := wantRefusal(t, err, history.ErrNodeUnavailable); !errors.Is(e.Node, errNodeDown) {
			t.Fatalf("refusal %+v does not carry the node's error", e)
		}
	})
	for _, c := range []struct {
		name, account, at string
		kind              error
	}{
		{"no moment", "alice", "", history.ErrBadRequest},
		{"a moment that is no time", "alice", "yesterday", history.ErrBadRequest},
		{"an unknown account", "nobody", "2026-03-01", history.ErrAccountNotFound},
	} {
		t.Run(c.name+" is refused", func(t *testing.T) {
			_, err := at(c.account, c.at)
			wantRefusal(t, err, c.kind)
		})
	}
}

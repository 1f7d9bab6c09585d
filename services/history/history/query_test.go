package history_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"tsbank/contract"
	"tsbank/services/history/history"
)

func limit(n int) *int { return &n }

// TestPagesFollowTheirCursorsToTheLastPage: each page holds its limit of rows in the query's order,
// its totals sum that page only, and its cursor leads to the next, until the last has none.
func TestPagesFollowTheirCursorsToTheLastPage(t *testing.T) {
	b := newBank(t)
	rows := b.events("alice", 1000, -250, 500, -100, 5)
	r := history.PageRequest{Account: "alice", Limit: limit(2)}
	var got [][]string
	var totals []history.Totals
	for range 4 {
		p, err := b.svc.Page(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		if p.Account != "alice" || p.Currency.Code != "EUR" {
			t.Fatalf("page of %s in %s", p.Account, p.Currency.Code)
		}
		var page []string
		for _, row := range p.Rows {
			page = append(page, row.EventID)
		}
		got, totals = append(got, page), append(totals, p.Totals)
		if p.Next == "" {
			break
		}
		r.Cursor = p.Next
	}
	id := func(i int) string { return rows[i].EventID }
	want := [][]string{{id(4), id(3)}, {id(2), id(1)}, {id(0)}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("pages %v, want %v (newest first)", got, want)
	}
	wantTotals := []history.Totals{{Count: 2, In: 5, Out: -100}, {Count: 2, In: 500, Out: -250}, {Count: 1, In: 1000}}
	if !slices.Equal(totals, wantTotals) || totals[1].Net() != 250 {
		t.Fatalf("totals %+v, want %+v", totals, wantTotals)
	}
}

// TestAPageAppliesTheFiltersAndSort: the request's filters, sort and order reach the store, a type
// sent twice counts once, and a page without a limit holds contract.DefaultPageSize rows.
func TestAPageAppliesTheFiltersAndSort(t *testing.T) {
	b := newBank(t)
	amounts := make([]int64, 60)
	for i := range amounts {
		amounts[i] = int64(i + 1)
		if i%2 == 1 {
			amounts[i] = -1
		}
	}
	b.events("alice", amounts...)
	page := func(r history.PageRequest) history.Page {
		t.Helper()
		r.Account = "alice"
		p, err := b.svc.Page(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := page(history.PageRequest{}); len(p.Rows) != contract.DefaultPageSize || p.Next == "" {
		t.Fatalf("default page: %d rows, next %q; want %d and a next", len(p.Rows), p.Next, contract.DefaultPageSize)
	}
	p := page(history.PageRequest{Types: []string{contract.EventDeposit, contract.EventDeposit}, Sort: history.SortAmount, Order: history.OrderAsc,
		MinAmount: "0.10", From: "2026-03-01T09:00:00Z", To: "2026-03-01T10:00:00Z", Limit: limit(3)})
	var amountsGot []int64
	for _, r := range p.Rows {
		amountsGot = append(amountsGot, r.Amount)
	}
	// Deposits of 10 cents or more, in the first hour (events 1 to 59), smallest first.
	if want := []int64{11, 13, 15}; !slices.Equal(amountsGot, want) {
		t.Fatalf("amounts %v, want %v", amountsGot, want)
	}
	if p := page(history.PageRequest{Text: "nothing has this", Counterparty: "bob", TransferID: "tr-1"}); len(p.Rows) != 0 || p.Next != "" || p.Totals != (history.Totals{}) {
		t.Fatalf("a page matching nothing: %+v", p)
	}
}

// TestAPageRefusesBadInput names the kind of refusal of each malformed request; the messages are
// the client's, so each must say something.
func TestAPageRefusesBadInput(t *testing.T) {
	b := newBank(t)
	b.events("alice", 100, 200, 300)
	first, err := b.svc.Page(context.Background(), history.PageRequest{Account: "alice", Limit: limit(2)})
	if err != nil || first.Next == "" {
		t.Fatalf("first page: %+v, %v", first, err)
	}
	forged := []byte(first.Next)
	forged[3] ^= 1
	for _, c := range []struct {
		name string
		r    history.PageRequest
		kind error
	}{
		{"unknown type", history.PageRequest{Types: []string{"fee"}}, history.ErrBadRequest},
		{"bad date", history.PageRequest{From: "yesterday"}, history.ErrBadRequest},
		{"reversed range", history.PageRequest{From: "2026-02-01", To: "2026-01-01"}, history.ErrBadRequest},
		{"empty range", history.PageRequest{From: "2026-02-01", To: "2026-02-01"}, history.ErrBadRequest},
		{"amount not a decimal", history.PageRequest{MinAmount: "ten"}, history.ErrInvalidAmount},
		{"min above max", history.PageRequest{MinAmount: "10", MaxAmount: "5"}, history.ErrBadRequest},
		{"min_amount with more decimals than EUR has", history.PageRequest{MinAmount: "1.001"}, history.ErrInvalidAmount},
		{"max_amount with more decimals than EUR has", history.PageRequest{MaxAmount: "1.001"}, history.ErrInvalidAmount},
		{"counterparty not an id", history.PageRequest{Counterparty: "bob smith"}, history.ErrInvalidID},
		{"transfer id not an id", history.PageRequest{TransferID: "tr/1"}, history.ErrInvalidID},
		{"text too long", history.PageRequest{Text: strings.Repeat("é", 201)}, history.ErrBadRequest},
		{"unknown sort", history.PageRequest{Sort: "balance"}, history.ErrBadRequest},
		{"unknown order", history.PageRequest{Order: "up"}, history.ErrBadRequest},
		{"zero page", history.PageRequest{Limit: limit(0)}, history.ErrBadRequest},
		{"negative page", history.PageRequest{Limit: limit(-1)}, history.ErrBadRequest},
		{"page over the maximum", history.PageRequest{Limit: limit(contract.MaxPageSize + 1)}, history.ErrBadRequest},
		{"forged cursor", history.PageRequest{Limit: limit(2), Cursor: string(forged)}, history.ErrInvalidCursor},
		{"made-up cursor", history.PageRequest{Cursor: "abc.def"}, history.ErrInvalidCursor},
		{"cursor of another query", history.PageRequest{Limit: limit(2), Types: []string{contract.EventDeposit}, Cursor: first.Next}, history.ErrInvalidCursor},
		{"cursor of another sort", history.PageRequest{Limit: limit(2), Sort: history.SortAmount, Cursor: first.Next}, history.ErrInvalidCursor},
	} {
		t.Run(c.name+" is refused", func(t *testing.T) {
			c.r.Account = "alice"
			_, err := b.svc.Page(context.Background(), c.r)
			wantRefusal(t, err, c.kind)
		})
	}
	t.Run("a cursor signed with another secret is refused", func(t *testing.T) {
		other := *b.svc
		other.Cursors = history.Cursors{Secret: []byte("another")}
		_, err := other.Page(context.Background(), history.PageRequest{Account: "alice", Limit: limit(2), Cursor: first.Next})
		wantRefusal(t, err, history.ErrInvalidCursor)
	})
}

// TestAPageOfAnAccountWithoutRowsTakesItsCurrencyFromItsNode: an account with no event yet is
// asked of its node; one that no node has is ErrAccountNotFound, and a node that does not answer
// is passed on.
func TestAPageOfAnAccountWithoutRowsTakesItsCurrencyFromItsNode(t *testing.T) {
	b := newBank(t)
	b.nodes.accounts["carol"] = nodeAccount{currency: jpy}
	p, err := b.svc.Page(context.Background(), history.PageRequest{Account: "carol"})
	if err != nil || p.Currency.Code != "JPY" || len(p.Rows) != 0 || p.Next != "" {
		t.Fatalf("carol's page: %+v, %v", p, err)
	}
	_, err = b.svc.Page(context.Background(), history.PageRequest{Account: "nobody"})
	wantRefusal(t, err, history.ErrAccountNotFound)
	b.nodes.down["dave"] = true
	_, err = b.svc.Page(context.Background(), history.PageRequest{Account: "dave"})
	if e := wantRefusal(t, err, history.ErrNodeUnavailable); !errors.Is(e.Node, errNodeDown) || !strings.Contains(e.Message, errNodeDown.Error()) {
		t.Fatalf("refusal %+v does not carry the node's error", e)
	}
}

// failingStore is a store whose reads fail, as a database that went away.
type failingStore struct{ history.Store }

var errDatabase = errors.New("the database went away")

func (failingStore) Page(context.Context, history.Query) ([]history.Row, error) {
	return nil, errDatabase
}

// TestAStoreFailureIsTheHistorysOwnNotARefusal: natsapi answers internal (or timeout) for an
// error that is no *history.Error.
func TestAStoreFailureIsTheHistorysOwnNotARefusal(t *testing.T) {
	b := newBank(t)
	b.events("alice", 100)
	b.svc.Store = failingStore{b.store}
	_, err := b.svc.Page(context.Background(), history.PageRequest{Account: "alice"})
	var e *history.Error
	if !errors.Is(err, errDatabase) || errors.As(err, &e) {
		t.Fatalf("error %v, want the store's, not a refusal", err)
	}
}

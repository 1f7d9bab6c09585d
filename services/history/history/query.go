package history

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"
	"unicode/utf8"

	"tsbank/contract"
	"tsbank/contract/money"
)

// eventTypes are the types a query may filter on. The vocabulary of the rules (event types, page
// sizes, what an id is) is contract's, defined once for the wire and the rules alike.
var eventTypes = []string{contract.EventDeposit, contract.EventWithdrawal, contract.EventTransferOut, contract.EventTransferIn}

// PageRequest is a query for a page of an account's rows as the client sent it, unchecked.
type PageRequest struct {
	Account              string
	Types                []string
	From, To             string // dates or RFC 3339 times; From inclusive, To exclusive
	MinAmount, MaxAmount string // decimals of the account's currency, on the absolute amount
	Counterparty         string
	TransferID           string
	Text                 string
	Sort, Order          string // "time" or "amount"; "desc" or "asc"; "" for the default
	Limit                *int   // nil for the default, contract.DefaultPageSize
	Cursor               string // the Next of the previous page
}

// Page is one page of an account's rows, with their totals and the cursor of the next page (""
// on the last).
type Page struct {
	Account  string
	Currency money.Currency
	Rows     []Row
	Totals   Totals
	Next     string
}

// Page answers r: the rows of its account that match its filters, in its order, after its
// cursor.
func (s *Service) Page(ctx context.Context, r PageRequest) (Page, error) {
	q, hash, err := s.parseQuery(r)
	if err != nil {
		return Page{}, err
	}
	currency, err := s.currency(ctx, r.Account)
	if err != nil {
		return Page{}, err
	}
	if err := checkAmounts(r, currency); err != nil {
		return Page{}, err
	}
	limit := q.Limit
	q.Limit++ // one more row says whether there is a next page
	rows, err := s.Store.Page(ctx, q)
	if err != nil {
		return Page{}, err
	}
	page := Page{Account: r.Account, Currency: currency}
	if len(rows) > limit {
		rows = rows[:limit]
		page.Next = s.Cursors.Make(q.PositionOf(rows[len(rows)-1]), hash)
	}
	page.Rows, page.Totals = rows, Sum(rows)
	return page, nil
}

// parseTime reads a date ("2026-01-31", midnight UTC) or an RFC 3339 time.
func parseTime(field, s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, refuse(ErrBadRequest, "%s %q is not a date such as \"2026-01-31\" or an RFC 3339 time such as \"2026-01-31T12:00:00Z\"", field, s)
}

// parseRange reads an optional [from, to) range and refuses a reversed or empty one.
func parseRange(from, to string) (f, t time.Time, err error) {
	if from != "" {
		if f, err = parseTime("from", from); err != nil {
			return
		}
	}
	if to != "" {
		if t, err = parseTime("to", to); err != nil {
			return
		}
	}
	if !f.IsZero() && !t.IsZero() && !f.Before(t) {
		err = refuse(ErrBadRequest, "from %s is not before to %s: send a range whose start comes first (to is exclusive)", from, to)
	}
	return
}

// checkID refuses an id that is not one the bank could have issued.
func checkID(what, id string) error {
	if e := contract.CheckID(what, id); e != nil {
		return refuse(ErrInvalidID, "%s", e.Message)
	}
	return nil
}

// parseQuery turns a request into a query, checking every field that needs no account (the
// amounts' decimals are checked against its currency by checkAmounts); it also returns the hash
// that ties cursors to their filters.
func (s *Service) parseQuery(r PageRequest) (Query, string, error) {
	q := Query{Account: r.Account, SortBy: SortTime, Desc: true, Limit: contract.DefaultPageSize}
	f := &q.Filter
	for _, t := range r.Types {
		if !slices.Contains(eventTypes, t) {
			return q, "", refuse(ErrBadRequest, "type %q: send deposit, withdrawal, transfer_out or transfer_in", t)
		}
		if !slices.Contains(f.Types, t) {
			f.Types = append(f.Types, t)
		}
	}
	var err error
	if f.From, f.To, err = parseRange(r.From, r.To); err != nil {
		return q, "", err
	}
	var bounds [2]int64
	var sized [2]bool // parsed: one too large for any currency is refused by checkAmounts
	for i, amount := range []string{r.MinAmount, r.MaxAmount} {
		if amount == "" {
			continue
		}
		if err := money.CheckSyntax(amount); err != nil {
			return q, "", refuse(ErrInvalidAmount, "%s", err)
		}
		var err error
		bounds[i], err = money.Parse(amount, money.Currency{Exponent: 3})
		sized[i] = err == nil
	}
	if sized[0] && sized[1] && bounds[0] > bounds[1] {
		return q, "", refuse(ErrBadRequest, "min_amount %s is above max_amount %s", r.MinAmount, r.MaxAmount)
	}
	f.MinAmount, f.MaxAmount = r.MinAmount, r.MaxAmount
	if r.Counterparty != "" {
		if err := checkID("counterparty", r.Counterparty); err != nil {
			return q, "", err
		}
	}
	if r.TransferID != "" {
		if err := checkID("transfer_id", r.TransferID); err != nil {
			return q, "", err
		}
	}
	if n := utf8.RuneCountInString(r.Text); n > 200 {
		return q, "", refuse(ErrBadRequest, "text has %d characters: send at most 200", n)
	}
	f.Counterparty, f.TransferID, f.Text = r.Counterparty, r.TransferID, r.Text
	switch r.Sort {
	case "", SortTime:
	case SortAmount:
		q.SortBy = SortAmount
	default:
		return q, "", refuse(ErrBadRequest, "sort %q: send \"time\" or \"amount\"", r.Sort)
	}
	switch r.Order {
	case "", OrderDesc:
	case OrderAsc:
		q.Desc = false
	default:
		return q, "", refuse(ErrBadRequest, "order %q: send \"desc\" or \"asc\"", r.Order)
	}
	if r.Limit != nil {
		if *r.Limit < 1 || *r.Limit > contract.MaxPageSize {
			return q, "", refuse(ErrBadRequest, "limit %d: send 1 to %d, or leave it out for %d", *r.Limit, contract.MaxPageSize, contract.DefaultPageSize)
		}
		q.Limit = *r.Limit
	}
	hash := queryHash(q)
	if r.Cursor != "" {
		p, err := s.Cursors.Read(r.Cursor, hash)
		if err != nil {
			return q, "", err
		}
		q.After = &p
	}
	return q, hash, nil
}

// checkAmounts refuses a min_amount or max_amount with more decimals than the account's currency
// has, or too large for it: "1.001" on a EUR account can match no row, and reads as a mistake.
func checkAmounts(r PageRequest, c money.Currency) error {
	for _, f := range []struct{ name, value string }{{"min_amount", r.MinAmount}, {"max_amount", r.MaxAmount}} {
		if f.value == "" {
			continue
		}
		if _, err := money.Parse(f.value, c); err != nil {
			return refuse(ErrInvalidAmount, "%s: %s", f.name, err)
		}
	}
	return nil
}

// queryHash identifies the account, filters and sort of a query: what a cursor must not outlive.
// Its input must stay as it is, or the cursors of running clients stop working at an upgrade.
func queryHash(q Query) string {
	key, _ := json.Marshal(struct {
		A string
		F Filter
		S string
		D bool
	}{q.Account, q.Filter, q.SortBy, q.Desc})
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

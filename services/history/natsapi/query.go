package natsapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"
	"unicode/utf8"

	"tsbank/contract"
	"tsbank/contract/money"
	"tsbank/services/history/history"
)

var eventTypes = []string{contract.EventDeposit, contract.EventWithdrawal, contract.EventTransferOut, contract.EventTransferIn}

// parseTime reads a date ("2026-01-31", midnight UTC) or an RFC 3339 time.
func parseTime(field, s string) (time.Time, *contract.Error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, contract.Errorf(contract.CodeBadRequest, "%s %q is not a date such as \"2026-01-31\" or an RFC 3339 time such as \"2026-01-31T12:00:00Z\"", field, s)
}

// parseRange reads an optional [from, to) range and refuses a reversed or empty one.
func parseRange(from, to string) (f, t time.Time, e *contract.Error) {
	if from != "" {
		if f, e = parseTime("from", from); e != nil {
			return
		}
	}
	if to != "" {
		if t, e = parseTime("to", to); e != nil {
			return
		}
	}
	if !f.IsZero() && !t.IsZero() && !f.Before(t) {
		e = contract.Errorf(contract.CodeBadRequest, "from %s is not before to %s: send a range whose start comes first (to is exclusive)", from, to)
	}
	return
}

// historyQuery is a query as the wire sends it, with the limit as a pointer: contract.HistoryQuery's
// int cannot tell a limit left out (the default) from "limit":0, which is out of range.
type historyQuery struct {
	contract.HistoryQuery
	Limit *int `json:"limit"`
}

// parseQuery turns a wire query into a domain query, checking every field that needs no account
// (the amounts' decimals are checked against its currency by checkAmounts); it also returns the
// format and the hash that ties cursors to their filters.
func (a *API) parseQuery(account string, w historyQuery) (history.Query, string, string, *contract.Error) {
	r := w.HistoryQuery
	q := history.Query{Account: account, SortBy: history.SortTime, Desc: true, Limit: contract.DefaultPageSize}
	f := &q.Filter
	for _, t := range r.Types {
		if !slices.Contains(eventTypes, t) {
			return q, "", "", contract.Errorf(contract.CodeBadRequest, "type %q: send deposit, withdrawal, transfer_out or transfer_in", t)
		}
		if !slices.Contains(f.Types, t) {
			f.Types = append(f.Types, t)
		}
	}
	var e *contract.Error
	if f.From, f.To, e = parseRange(r.From, r.To); e != nil {
		return q, "", "", e
	}
	var bounds [2]int64
	var sized [2]bool // parsed: one too large for any currency is refused by checkAmounts
	for i, s := range []string{r.MinAmount, r.MaxAmount} {
		if s == "" {
			continue
		}
		if err := money.CheckSyntax(s); err != nil {
			return q, "", "", contract.Errorf(contract.CodeInvalidAmount, "%s", err)
		}
		var err error
		bounds[i], err = money.Parse(s, money.Currency{Exponent: 3})
		sized[i] = err == nil
	}
	if sized[0] && sized[1] && bounds[0] > bounds[1] {
		return q, "", "", contract.Errorf(contract.CodeBadRequest, "min_amount %s is above max_amount %s", r.MinAmount, r.MaxAmount)
	}
	f.MinAmount, f.MaxAmount = r.MinAmount, r.MaxAmount
	if r.Counterparty != "" {
		if e := contract.CheckID("counterparty", r.Counterparty); e != nil {
			return q, "", "", e
		}
	}
	if r.TransferID != "" {
		if e := contract.CheckID("transfer_id", r.TransferID); e != nil {
			return q, "", "", e
		}
	}
	if n := utf8.RuneCountInString(r.Text); n > 200 {
		return q, "", "", contract.Errorf(contract.CodeBadRequest, "text has %d characters: send at most 200", n)
	}
	f.Counterparty, f.TransferID, f.Text = r.Counterparty, r.TransferID, r.Text
	switch r.Sort {
	case "", history.SortTime:
	case history.SortAmount:
		q.SortBy = history.SortAmount
	default:
		return q, "", "", contract.Errorf(contract.CodeBadRequest, "sort %q: send \"time\" or \"amount\"", r.Sort)
	}
	switch r.Order {
	case "", "desc":
	case "asc":
		q.Desc = false
	default:
		return q, "", "", contract.Errorf(contract.CodeBadRequest, "order %q: send \"desc\" or \"asc\"", r.Order)
	}
	if w.Limit != nil {
		if *w.Limit < 1 || *w.Limit > contract.MaxPageSize {
			return q, "", "", contract.Errorf(contract.CodeBadRequest, "limit %d: send 1 to %d, or leave it out for %d", *w.Limit, contract.MaxPageSize, contract.DefaultPageSize)
		}
		q.Limit = *w.Limit
	}
	format, e := checkFormat(r.Format)
	if e != nil {
		return q, "", "", e
	}
	hash := queryHash(account, q)
	if r.Cursor != "" {
		p, e := a.Cursors.Read(r.Cursor, hash)
		if e != nil {
			return q, "", "", e
		}
		q.After = &p
	}
	return q, format, hash, nil
}

// checkAmounts refuses a min_amount or max_amount with more decimals than the account's currency
// has, or too large for it: "1.001" on a EUR account can match no row, and reads as a mistake.
func checkAmounts(r contract.HistoryQuery, c money.Currency) *contract.Error {
	for _, f := range []struct{ name, value string }{{"min_amount", r.MinAmount}, {"max_amount", r.MaxAmount}} {
		if f.value == "" {
			continue
		}
		if _, err := money.Parse(f.value, c); err != nil {
			return contract.Errorf(contract.CodeInvalidAmount, "%s: %s", f.name, err)
		}
	}
	return nil
}

func checkFormat(f string) (string, *contract.Error) {
	switch f {
	case "", contract.FormatJSON:
		return contract.FormatJSON, nil
	case contract.FormatTable, contract.FormatCSV:
		return f, nil
	}
	return "", contract.Errorf(contract.CodeBadRequest, "format %q: send \"json\", \"table\" or \"csv\"", f)
}

// queryHash identifies the account, filters and sort of a query: what a cursor must not outlive.
func queryHash(account string, q history.Query) string {
	key, _ := json.Marshal(struct {
		A string
		F history.Filter
		S string
		D bool
	}{account, q.Filter, q.SortBy, q.Desc})
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

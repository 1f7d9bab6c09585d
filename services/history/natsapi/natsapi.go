// Package natsapi is the history service's NATS edge: history queries and statements (the account
// in the subject, so permissions can confine a customer to their own history) in json, table or
// csv, and reconciliation against the account nodes.
package natsapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/micro"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/contract/money"
	"tsbank/platform/service"
	"tsbank/services/history/history"
	"tsbank/services/history/render"
)

// API serves the history endpoints.
type API struct {
	Store   history.Store
	Client  *client.Client // to the account nodes: existence, currency, balances
	Cursors Cursors
	Log     *slog.Logger
	Timeout time.Duration
	// Differences is told how many differences a whole-bank reconciliation found.
	Differences func(n int)
}

// AddEndpoints registers the endpoints of the table the history serves, each handler decorated by
// wrap.
func (a *API) AddEndpoints(svc *service.Server, wrap func(string, micro.Handler) micro.Handler) error {
	return service.Register(svc, contract.RoleHistory, nil, []service.Handler{
		service.Endpoint("query", `A page of the account's transactions: {"type":[...],"from","to","min_amount","max_amount","counterparty","transfer_id","text","sort":"time|amount","order":"desc|asc","limit":50,"cursor","format":"json|table|csv"}`, a.query),
		service.Endpoint("statement", `Opening balance, transactions, closing balance and totals: {"from":"2026-01-01","to":"2026-02-01","format":"json|table|csv"}`, a.statement),
		service.Endpoint("balance_at", `The balance at a moment, from the numbered events: {"at":"2026-01-31T12:00:00Z"} (or a date: its midnight UTC)`, a.balanceAt),
		service.Endpoint("reconcile", `Compare the history with the nodes' balances: {"account":"<optional>"}`, a.reconcile),
	}, wrap)
}

func (a *API) query(req micro.Request) {
	ctx, cancel := context.WithTimeout(context.Background(), a.Timeout)
	defer cancel()
	account := contract.Token(req.Subject(), "account")
	var r historyQuery
	if e := a.decode(account, req.Data(), &r); e != nil {
		contract.Respond(req, nil, e)
		return
	}
	q, format, hash, e := a.parseQuery(account, r)
	if e != nil {
		contract.Respond(req, nil, e)
		return
	}
	currency, e := a.currency(ctx, account)
	if e != nil {
		contract.Respond(req, nil, e)
		return
	}
	if e := checkAmounts(r.HistoryQuery, currency); e != nil {
		contract.Respond(req, nil, e)
		return
	}
	limit := q.Limit
	q.Limit++ // one more row says whether there is a next page
	rows, err := a.Store.Page(ctx, q)
	if err != nil {
		contract.Respond(req, nil, a.internal(err))
		return
	}
	page := contract.HistoryPage{Account: account, Currency: currency.Code, Rows: []contract.HistoryRow{}}
	if len(rows) > limit {
		rows = rows[:limit]
		page.Next = a.Cursors.Make(q.PositionOf(rows[len(rows)-1]), hash)
	}
	page.Rows, page.Totals = wireRows(rows, currency)
	page.Totals.Of = contract.TotalsOfPage
	// The cursor travels in a header too, for the CSV format above all: its body holds
	// transactions only, so that a spreadsheet or a script reads it without special cases.
	var opts []micro.RespondOpt
	if page.Next != "" {
		opts = append(opts, micro.WithHeaders(micro.Headers{contract.NextCursorHeader: {page.Next}}))
	}
	switch format {
	case contract.FormatTable:
		_ = req.Respond(render.PageTable(page), opts...)
	case contract.FormatCSV:
		_ = req.Respond(render.PageCSV(page), opts...)
	default:
		_ = req.RespondJSON(page, opts...)
	}
}

func (a *API) statement(req micro.Request) {
	ctx, cancel := context.WithTimeout(context.Background(), a.Timeout)
	defer cancel()
	account := contract.Token(req.Subject(), "account")
	var r contract.StatementRequest
	if e := a.decode(account, req.Data(), &r); e != nil {
		contract.Respond(req, nil, e)
		return
	}
	if r.From == "" || r.To == "" {
		contract.Respond(req, nil, contract.Errorf(contract.CodeBadRequest, `a statement needs a period: send {"from":"2026-01-01","to":"2026-02-01"} (to is exclusive)`))
		return
	}
	from, to, e := parseRange(r.From, r.To)
	if e != nil {
		contract.Respond(req, nil, e)
		return
	}
	format, e := checkFormat(r.Format)
	if e != nil {
		contract.Respond(req, nil, e)
		return
	}
	currency, e := a.currency(ctx, account)
	if e != nil {
		contract.Respond(req, nil, e)
		return
	}
	opening, rows, err := a.Store.Period(ctx, account, from, to)
	if err != nil {
		contract.Respond(req, nil, a.internal(err))
		return
	}
	closing := opening
	if len(rows) > 0 {
		closing = rows[len(rows)-1].BalanceAfter
	}
	st := contract.Statement{
		Account: account, Currency: currency.Code, From: from, To: to,
		OpeningBalance: money.Format(opening, currency), ClosingBalance: money.Format(closing, currency),
	}
	st.Rows, st.Totals = wireRows(rows, currency)
	st.Totals.Of = contract.TotalsOfPeriod
	switch format {
	case contract.FormatTable:
		_ = req.Respond(render.StatementTable(st))
	case contract.FormatCSV:
		_ = req.Respond(render.StatementCSV(st))
	default:
		contract.Respond(req, st, nil)
	}
}

// balanceAt answers the account's balance at a moment: the balance after the last of its numbered
// events before the first whose time is after it. Exact or refused: if an event it depends on
// has not reached the history (a gap in the numbers, or, with no event after the moment here,
// a newer one on the node), the answer is history_behind.
func (a *API) balanceAt(req micro.Request) {
	ctx, cancel := service.Context(req, a.Timeout)
	defer cancel()
	account := contract.Token(req.Subject(), "account")
	var r contract.BalanceAtRequest
	if e := a.decode(account, req.Data(), &r); e != nil {
		contract.Respond(req, nil, e)
		return
	}
	if r.At == "" {
		contract.Respond(req, nil, contract.Errorf(contract.CodeBadRequest, `at is missing: send {"at":"2026-01-31T12:00:00Z"}, or a date such as "2026-01-31" (its midnight UTC)`))
		return
	}
	at, e := parseTime("at", r.At)
	if e != nil {
		contract.Respond(req, nil, e)
		return
	}
	currency, e := a.currency(ctx, account)
	if e != nil {
		contract.Respond(req, nil, e)
		return
	}
	b, err := a.Store.BalanceAt(ctx, account, at)
	if err != nil {
		contract.Respond(req, nil, a.internal(err))
		return
	}
	complete, err := b.Complete(func() (int64, error) {
		bal, err := a.Client.Balance(ctx, account)
		return bal.EventSeq, err
	})
	switch {
	case contract.CodeOf(err) != "":
		contract.Respond(req, nil, &contract.Error{Code: contract.CodeOf(err), Message: fmt.Sprintf("the history cannot tell whether an event of %s after its newest is on its way: its node did not answer: %s", account, err)})
		return
	case err != nil:
		contract.Respond(req, nil, a.internal(err))
		return
	case !complete:
		contract.Respond(req, nil, contract.Errorf(contract.CodeHistoryBehind,
			"the history has not yet received every event of %s up to %s: ask again in a moment", account, at.Format(time.RFC3339Nano)))
		return
	}
	contract.Respond(req, contract.BalanceAt{Account: account, Currency: currency.Code, At: at,
		Balance: money.Format(b.Balance, currency), EventSeq: b.Seq}, nil)
}

// decode checks the account id in the subject and decodes the body.
func (a *API) decode(account string, data []byte, v any) *contract.Error {
	if e := contract.CheckID("account", account); e != nil {
		return e
	}
	return contract.Decode(data, v)
}

// currency returns the account's currency: from its history rows, or, for an account with none
// yet, from its node; an account that does not exist is account_not_found.
func (a *API) currency(ctx context.Context, account string) (money.Currency, *contract.Error) {
	c, found, err := a.Store.Currency(ctx, account)
	if err != nil {
		return c, a.internal(err)
	}
	if found {
		return c, nil
	}
	acc, err := a.Client.Get(ctx, account)
	switch code := contract.CodeOf(err); {
	case err == nil:
		c, err := money.LookupCurrency(acc.Currency)
		if err != nil {
			return c, a.internal(err)
		}
		return c, nil
	case code == contract.CodeAccountNotFound:
		return c, contract.Errorf(contract.CodeAccountNotFound, "account %s does not exist", account)
	case code != "":
		return c, &contract.Error{Code: code, Message: fmt.Sprintf("account %s has no history yet, and its node did not answer: %s", account, err)}
	}
	return c, a.internal(err)
}

// wireRows converts rows and sums them.
func wireRows(rows []history.Row, c money.Currency) ([]contract.HistoryRow, contract.HistoryTotals) {
	out := make([]contract.HistoryRow, 0, len(rows))
	var in, outSum int64
	for _, r := range rows {
		if r.Amount > 0 {
			in += r.Amount
		} else {
			outSum += r.Amount
		}
		row := contract.HistoryRow{
			EventID: r.EventID, Account: r.Account, Type: r.Type, Amount: money.Format(r.Amount, r.Currency),
			Currency: r.Currency.Code, BalanceAfter: money.Format(r.BalanceAfter, r.Currency), At: r.At,
			Description: r.Description, TransferID: r.TransferID, Counterparty: r.Counterparty, RefundOf: r.RefundOf, Node: r.Node,
		}
		if r.Refunded > 0 {
			row.Refunded = money.Format(r.Refunded, r.Currency)
		}
		if x := r.Exchange; x != nil {
			row.Exchange = &contract.Exchange{Quote: x.Quote, Rate: x.Rate, FromAmount: x.FromAmount, FromCurrency: x.FromCurrency,
				ToAmount: x.ToAmount, ToCurrency: x.ToCurrency}
		}
		out = append(out, row)
	}
	return out, contract.HistoryTotals{
		Count: len(rows), In: money.Format(in, c), Out: money.Format(outSum, c), Net: money.Format(in+outSum, c),
	}
}

func (a *API) internal(err error) *contract.Error {
	if errors.Is(err, context.DeadlineExceeded) {
		return contract.Errorf(contract.CodeTimeout, "no answer in %s: try a smaller page or period", a.Timeout)
	}
	a.Log.Error("internal error", "err", err)
	return contract.Errorf(contract.CodeInternal, "the history service failed: try again")
}

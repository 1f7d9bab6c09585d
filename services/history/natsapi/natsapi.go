// Package natsapi is the history service's NATS edge: history queries and statements (the account
// in the subject, so permissions can confine a customer to their own history) in json, table or
// csv, balances at a moment, and reconciliation against the account nodes. It decodes a request,
// calls the history's use cases and encodes their answer or refusal.
package natsapi

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/micro"

	"tsbank/contract"
	"tsbank/contract/money"
	"tsbank/platform/service"
	"tsbank/services/history/history"
	"tsbank/services/history/render"
)

// API serves the history endpoints.
type API struct {
	History *history.Service
	Log     *slog.Logger
	Timeout time.Duration
}

// AddEndpoints registers the endpoints of the table the history serves, each handler decorated by
// wrap.
func (a *API) AddEndpoints(svc *service.Server, wrap func(string, micro.Handler) micro.Handler) error {
	return service.Register(svc, contract.RoleHistory, nil, []service.Handler{
		service.Endpoint("query", `A page of the account's transactions: {"type":[...],"from","to","min_amount","max_amount","counterparty","transfer_id","text","sort":"time|amount","order":"desc|asc","limit":50,"cursor","format":"json|table|csv"}`, service.Typed(a.Timeout, a.query, service.Detached())),
		service.Endpoint("statement", `Opening balance, transactions, closing balance and totals: {"from":"2026-01-01","to":"2026-02-01","format":"json|table|csv"}`, service.Typed(a.Timeout, a.statement, service.Detached())),
		service.Endpoint("balance_at", `The balance at a moment, from the numbered events: {"at":"2026-01-31T12:00:00Z"} (or a date: its midnight UTC)`, service.Typed(a.Timeout, a.balanceAt)),
		service.Endpoint("reconcile", `Compare the history with the nodes' balances: {"account":"<optional>"}`, service.Typed(a.Timeout, a.reconcile, service.Detached())),
	}, wrap)
}

// historyQuery is a query as the wire sends it, with the limit as a pointer: contract.HistoryQuery's
// int cannot tell a limit left out (the default) from "limit":0, which is out of range.
type historyQuery struct {
	contract.HistoryQuery
	Limit *int `json:"limit"`
}

func (a *API) query(ctx context.Context, req micro.Request, r historyQuery) (any, *contract.Error) {
	account := contract.Token(req.Subject(), "account")
	if e := contract.CheckID("account", account); e != nil {
		return nil, e
	}
	format, e := checkFormat(r.Format)
	if e != nil {
		return nil, e
	}
	p, err := a.History.Page(ctx, history.PageRequest{
		Account: account, Types: r.Types, From: r.From, To: r.To, MinAmount: r.MinAmount, MaxAmount: r.MaxAmount,
		Counterparty: r.Counterparty, TransferID: r.TransferID, Text: r.Text, Sort: r.Sort, Order: r.Order,
		Limit: r.Limit, Cursor: r.Cursor,
	})
	if err != nil {
		return nil, a.refusal(err)
	}
	page := contract.HistoryPage{Account: account, Currency: p.Currency.Code, Next: p.Next,
		Rows: wireRows(p.Rows), Totals: wireTotals(p.Totals, p.Currency, contract.TotalsOfPage)}
	// The cursor travels in a header too, for the CSV format above all: its body holds
	// transactions only, so that a spreadsheet or a script reads it without special cases.
	reply := service.Raw{JSON: page}
	if page.Next != "" {
		reply.Headers = micro.Headers{contract.NextCursorHeader: {page.Next}}
	}
	switch format {
	case contract.FormatTable:
		reply.Body = render.PageTable(page)
	case contract.FormatCSV:
		reply.Body = render.PageCSV(page)
	}
	return reply, nil
}

func (a *API) statement(ctx context.Context, req micro.Request, r contract.StatementRequest) (any, *contract.Error) {
	account := contract.Token(req.Subject(), "account")
	if e := contract.CheckID("account", account); e != nil {
		return nil, e
	}
	format, e := checkFormat(r.Format)
	if e != nil {
		return nil, e
	}
	s, err := a.History.Statement(ctx, account, r.From, r.To)
	if err != nil {
		return nil, a.refusal(err)
	}
	st := contract.Statement{
		Account: account, Currency: s.Currency.Code, From: s.From, To: s.To,
		OpeningBalance: money.Format(s.Opening, s.Currency), ClosingBalance: money.Format(s.Closing, s.Currency),
		Rows: wireRows(s.Rows), Totals: wireTotals(s.Totals, s.Currency, contract.TotalsOfPeriod),
	}
	switch format {
	case contract.FormatTable:
		return service.Raw{Body: render.StatementTable(st)}, nil
	case contract.FormatCSV:
		return service.Raw{Body: render.StatementCSV(st)}, nil
	}
	return st, nil
}

func (a *API) balanceAt(ctx context.Context, req micro.Request, r contract.BalanceAtRequest) (any, *contract.Error) {
	account := contract.Token(req.Subject(), "account")
	if e := contract.CheckID("account", account); e != nil {
		return nil, e
	}
	b, err := a.History.BalanceAt(ctx, account, r.At)
	if err != nil {
		return nil, a.refusal(err)
	}
	return contract.BalanceAt{Account: account, Currency: b.Currency.Code, At: b.At,
		Balance: money.Format(b.Balance, b.Currency), EventSeq: b.EventSeq}, nil
}

func (a *API) reconcile(ctx context.Context, _ micro.Request, r contract.ReconcileRequest) (any, *contract.Error) {
	rec, err := a.History.Reconcile(ctx, r.Account)
	if err != nil {
		return nil, a.refusal(err)
	}
	out := contract.Reconciliation{Accounts: rec.Accounts, Differences: make([]contract.Difference, 0, len(rec.Differences)), Forged: rec.Forged}
	for _, d := range rec.Differences {
		out.Differences = append(out.Differences, contract.Difference{Account: d.Account, Currency: d.Currency,
			NodeBalance: d.NodeBalance, NodeEventSeq: d.NodeEventSeq, LastBalance: d.LastBalance, SumOfAmounts: d.SumOfAmounts,
			Problem: d.Problem})
	}
	return out, nil
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

// wireRows converts rows.
func wireRows(rows []history.Row) []contract.HistoryRow {
	out := make([]contract.HistoryRow, 0, len(rows))
	for _, r := range rows {
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
	return out
}

func wireTotals(t history.Totals, c money.Currency, of string) contract.HistoryTotals {
	return contract.HistoryTotals{Of: of, Count: t.Count, In: money.Format(t.In, c), Out: money.Format(t.Out, c), Net: money.Format(t.Net(), c)}
}

// codes are the reply codes of the history's kinds of refusal.
var codes = map[error]contract.Code{
	history.ErrBadRequest:      contract.CodeBadRequest,
	history.ErrInvalidID:       contract.CodeInvalidID,
	history.ErrInvalidAmount:   contract.CodeInvalidAmount,
	history.ErrInvalidCursor:   contract.CodeInvalidCursor,
	history.ErrAccountNotFound: contract.CodeAccountNotFound,
	history.ErrHistoryBehind:   contract.CodeHistoryBehind,
	history.ErrNodeUnavailable: contract.CodeNodeUnavailable,
}

// refusal is the error reply for a use case's error: a refusal keeps its message, under the code
// of its kind or, when a node's failure caused it, the node's own code (timeout, overloaded…).
func (a *API) refusal(err error) *contract.Error {
	var e *history.Error
	if !errors.As(err, &e) {
		return a.internal(err)
	}
	code := codes[e.Kind]
	if c := contract.CodeOf(e.Node); c != "" {
		code = c
	}
	return &contract.Error{Code: code, Message: e.Message}
}

func (a *API) internal(err error) *contract.Error {
	if errors.Is(err, context.DeadlineExceeded) {
		return contract.Errorf(contract.CodeTimeout, "no answer in %s: try a smaller page or period", a.Timeout)
	}
	a.Log.Error("internal error", "err", err)
	return contract.Errorf(contract.CodeInternal, "the history service failed: try again")
}

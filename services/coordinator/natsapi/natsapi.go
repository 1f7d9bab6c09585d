// Package natsapi is the coordinator's NATS edge: transfer and status requests from clients, the
// decision question from participants, and the operations endpoints.
package natsapi

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/micro"
	"github.com/nats-io/nkeys"
	"go.opentelemetry.io/otel/trace"

	"tsbank/contract"
	"tsbank/contract/decisionsig"
	"tsbank/contract/money"
	"tsbank/contract/natstrace"
	"tsbank/platform/service"
	"tsbank/services/coordinator/move"
	"tsbank/services/coordinator/transfer"
)

// API serves the coordinator's endpoints.
type API struct {
	Coordinator *transfer.Coordinator
	Mover       *move.Mover
	Signer      nkeys.KeyPair // signs decision answers, which nodes apply only when signed
	Log         *slog.Logger
	// Timeout bounds one request; a transfer still undecided by then is answered as preparing,
	// and the client can ask for its status.
	Timeout time.Duration
}

// AddEndpoints registers the endpoints of the table the coordinator serves, each handler decorated
// by wrap.
func (a *API) AddEndpoints(svc *service.Server, wrap func(string, micro.Handler) micro.Handler) error {
	return service.Register(svc, contract.RoleCoordinator, nil, []service.Handler{
		service.Endpoint("transfer", `Pay from the account in the subject: {"id":"<request id>","to":"<account>","amount":"25.00","description":"<optional>"}`, service.Typed(a.Timeout, a.transfer, service.Detached())),
		service.Endpoint("refund", `Refund, as its payee, a committed transfer: {"id":"<request id>","transfer_id":"<the original's>" or "original":{"from":"<payer>","id":"<its request id>"},"amount":"<optional: what is left>","description":"<optional>"}`, service.Typed(a.Timeout, a.refund, service.Detached())),
		service.Endpoint("status", `A transfer's state by its request id: {"id":"<request id>"}`, service.Typed(a.Timeout, a.status, service.Detached())),
		service.Endpoint("decision", `For participants: the outcome of {"transfer_id":"...","leg":"debit|credit","account":"..."}, signed`, service.Typed(a.Timeout, a.decision, service.Detached())),
		service.Endpoint("payment", `Move money among 2 to 16 accounts, all or nothing: {"id":"<request id>","legs":[{"account":"<account>","amount":"25.00","side":"debit|credit"}],"description":"<optional>"}`, service.Typed(a.Timeout, a.payment, service.Detached())),
		service.Endpoint("payment_status", `A payment's state by its request id: {"id":"<request id>"}`, service.Typed(a.Timeout, a.paymentStatus, service.Detached())),
		service.Endpoint("move", `Operators: move an account to another node while the bank runs: {"id":"<request id>","account":"<account>","to":"<node>"}`, service.Typed(a.Timeout, a.moveAccount, service.Detached())),
		service.Endpoint("move_status", `A move's state by its request id: {"id":"<request id>"}`, service.Typed(a.Timeout, a.moveStatus, service.Detached())),
		service.Endpoint("rates_set", `Set an exchange rate: {"id":"<request id>","base":"EUR","quote":"JPY","rate":"162.5","valid_from":"<optional RFC 3339: now>","by":"<optional>"}`, service.Typed(a.Timeout, a.setRate, service.Detached())),
		service.Endpoint("rates", `Exchange rates in force, or every one set: {"base":"<optional>","quote":"<optional>","history":false}`, service.Typed(a.Timeout, a.rates, service.Detached())),
		service.Endpoint("quote", `Fix a rate for a cross-currency transfer from the account in the subject: {"id":"<quote id>","to":"<account>","amount":"10.00"}`, service.Typed(a.Timeout, a.quote, service.Detached())),
		service.Endpoint("pending", "Transfers in flight (no decision) and in doubt (decision not acknowledged)", service.Typed(a.Timeout, a.pending, service.Detached())),
		service.Endpoint("resolve", `Drive a stuck transfer to its outcome now: {"transfer_id":"..."}`, service.Typed(a.Timeout, a.resolve, service.Detached())),
	}, wrap)
}

func (a *API) transfer(ctx context.Context, req micro.Request, r contract.TransferRequest) (any, *contract.Error) {
	from := contract.Token(req.Subject(), "account")
	if e := a.checkTransfer(from, &r); e != nil {
		return nil, e
	}
	if r.Quote != "" {
		return a.exchange(ctx, from, r)
	}
	t, err := a.Coordinator.Transfer(ctx, transfer.Transfer{
		From: from, RequestID: r.ID, To: r.To, Amount: r.Amount, Description: r.Description,
		Fingerprint: transferFingerprint(r),
	})
	traced(ctx, t.ID)
	if err != nil {
		return nil, a.logError(ctx, err, "transfer", r.ID, contract.TransferStatusSubject(from))
	}
	return Wire(t), nil
}

// logError is the reply to a transfer, refund or payment (what) whose request failed: an internal
// fault means the log failed somewhere between Begin and Decide, so the operation may be logged,
// even decided and committed. Saying "internal" would read as a failure, and be a lie: the answer
// is outcome_unknown, with the subject that tells.
func (a *API) logError(ctx context.Context, err error, what, id, statusSubject string) *contract.Error {
	e := a.toWire(ctx, err)
	if e.Code == contract.CodeInternal {
		e = contract.Errorf(contract.CodeOutcomeUnknown,
			"the coordinator could not tell whether %s %s was done (its log did not answer): ask %s with {\"id\":%q}, or send it again with the same id",
			what, id, statusSubject, id)
	}
	return e
}

// traced names transfer id on the request's span, once the coordinator has given it (none for a
// request refused before logging).
func traced(ctx context.Context, id string) {
	trace.SpanFromContext(ctx).SetAttributes(natstrace.Transfer(id)...)
}

// checkTransfer refuses, before anything is logged or held, what is wrong with the request itself;
// the coordinator then refuses, also before logging, what is wrong with it given its accounts
// (transfer.Coordinator.check). Both answer an error and leave the id unused.
func (a *API) checkTransfer(from string, r *contract.TransferRequest) *contract.Error {
	if e := contract.CheckID("paying account", from); e != nil {
		return e
	}
	if r.ID == "" {
		return contract.Errorf(contract.CodeInvalidID, `id is missing: send a client-chosen id such as {"id":"t-1",...} so that a retry is applied once`)
	}
	if e := contract.CheckID("id", r.ID); e != nil {
		return e
	}
	// A quote names its payee: "to" may then be left out.
	if r.Quote == "" || r.To != "" {
		if e := contract.CheckID("to", r.To); e != nil {
			return e
		}
	}
	if r.To == from {
		return contract.Errorf(contract.CodeSameAccount, "%s cannot pay itself: send another account in \"to\"", from)
	}
	if r.Quote != "" {
		if e := contract.CheckID("quote", r.Quote); e != nil {
			return e
		}
	}
	// With a quote the amount may be left out: the quote has it.
	if r.Quote == "" || r.Amount != "" {
		if err := money.CheckSyntax(r.Amount); err != nil {
			return contract.Errorf(contract.CodeInvalidAmount, "%s", err)
		}
	}
	if e := contract.CheckDescription(r.Description); e != nil {
		return e
	}
	return nil
}

func (a *API) refund(ctx context.Context, req micro.Request, r contract.RefundRequest) (any, *contract.Error) {
	payee := contract.Token(req.Subject(), "account")
	if e := checkRefund(payee, &r); e != nil {
		return nil, e
	}
	of := transfer.Original{TransferID: r.TransferID}
	if r.Original != nil {
		of.From, of.RequestID = r.Original.From, r.Original.ID
	}
	t, err := a.Coordinator.Refund(ctx, transfer.RefundRequest{
		From: payee, RequestID: r.ID, Fingerprint: refundFingerprint(of, r), Original: of, Amount: r.Amount, Description: r.Description,
	})
	traced(ctx, t.ID)
	if err != nil {
		return nil, a.logError(ctx, err, "refund", r.ID, contract.TransferStatusSubject(payee))
	}
	return Wire(t), nil
}

// checkRefund refuses what is wrong with a refund request itself, before anything is logged.
func checkRefund(payee string, r *contract.RefundRequest) *contract.Error {
	if e := contract.CheckID("refunding account", payee); e != nil {
		return e
	}
	if r.ID == "" {
		return contract.Errorf(contract.CodeInvalidID, `id is missing: send a client-chosen id such as {"id":"r-1",...} so that a retry is applied once`)
	}
	if e := contract.CheckID("id", r.ID); e != nil {
		return e
	}
	switch {
	case (r.TransferID == "") == (r.Original == nil):
		return contract.Errorf(contract.CodeBadRequest, `name the transfer to refund with exactly one of "transfer_id" or "original":{"from":"<payer>","id":"<its request id>"}`)
	case r.Original != nil:
		if e := contract.CheckID("original.from", r.Original.From); e != nil {
			return e
		}
		if e := contract.CheckID("original.id", r.Original.ID); e != nil {
			return e
		}
	default:
		if e := contract.CheckID("transfer_id", r.TransferID); e != nil {
			return e
		}
	}
	if r.Amount != "" {
		if err := money.CheckSyntax(r.Amount); err != nil {
			return contract.Errorf(contract.CodeInvalidAmount, "%s", err)
		}
	}
	return contract.CheckDescription(r.Description)
}

func (a *API) status(ctx context.Context, req micro.Request, r contract.TransferStatusRequest) (any, *contract.Error) {
	from := contract.Token(req.Subject(), "account")
	if e := contract.CheckID("id", r.ID); e != nil {
		return nil, e
	}
	t, err := a.Coordinator.Status(ctx, from, r.ID)
	if errors.Is(err, transfer.ErrNotFound) {
		// A cross-currency transfer is logged as a payment, under the payer's request id.
		p, err := a.Coordinator.ExchangeStatus(ctx, from, r.ID)
		if err != nil {
			return nil, a.toWire(ctx, err)
		}
		return WireExchange(p), nil
	}
	if err != nil {
		return nil, a.toWire(ctx, err)
	}
	return Wire(t), nil
}

func (a *API) decision(ctx context.Context, _ micro.Request, r contract.DecisionRequest) (any, *contract.Error) {
	if e := checkTransferID(r.TransferID); e != nil {
		return nil, e
	}
	// The answer is signed for the leg that asks, so both must be named.
	if _, ok := contract.LegSide(r.Leg); !ok {
		return nil, contract.Errorf(contract.CodeBadRequest, `leg %q: send "debit" or "credit" (or a payment's "debit.N", "credit.N"), the leg the answer is for`, r.Leg)
	}
	if e := contract.CheckID("account", r.Account); e != nil {
		return nil, e
	}
	outcome, err := a.Coordinator.Outcome(ctx, r.TransferID)
	if err != nil {
		return nil, a.toWire(ctx, err)
	}
	d := contract.Decision{TransferID: r.TransferID, Outcome: outcome}
	if d.Sig, err = decisionsig.Sign(a.Signer, decisionsig.Outcome(r.Account, r.Leg, d)); err != nil {
		return nil, a.toWire(ctx, err)
	}
	return d, nil
}

func (a *API) pending(ctx context.Context, _ micro.Request, r struct{}) (any, *contract.Error) {
	inFlight, inDoubt, err := a.Coordinator.Pending(ctx)
	if err != nil {
		return nil, a.toWire(ctx, err)
	}
	list := contract.PendingList{InFlight: []contract.Transfer{}, InDoubt: []contract.Transfer{}}
	for _, t := range inFlight {
		list.InFlight = append(list.InFlight, Wire(t))
	}
	for _, t := range inDoubt {
		list.InDoubt = append(list.InDoubt, Wire(t))
	}
	payments, err := a.Coordinator.PendingPayments(ctx)
	if err != nil {
		return nil, a.toWire(ctx, err)
	}
	for _, p := range payments {
		list.Payments = append(list.Payments, WirePayment(p))
	}
	return list, nil
}

func (a *API) resolve(ctx context.Context, _ micro.Request, r contract.ResolveRequest) (any, *contract.Error) {
	if e := checkTransferID(r.TransferID); e != nil {
		return nil, e
	}
	t, err := a.Coordinator.Resolve(ctx, r.TransferID)
	if errors.Is(err, transfer.ErrNotFound) {
		// A payment's id resolves its payment; the reply is the payment.
		p, err := a.Coordinator.ResolvePayment(ctx, r.TransferID)
		if err != nil {
			return nil, a.toWire(ctx, err)
		}
		return WirePayment(p), nil
	}
	if err != nil {
		return nil, a.toWire(ctx, err)
	}
	return Wire(t), nil
}

func checkTransferID(id string) *contract.Error { return contract.CheckID("transfer_id", id) }

// Wire is a log record as clients see it.
func Wire(t transfer.Transfer) contract.Transfer {
	status, amount := t.State, t.Amount
	if t.Outcome != "" {
		status = t.Outcome
	}
	if c, err := money.LookupCurrency(t.Currency); err == nil && t.AmountMinor > 0 {
		amount = money.Format(t.AmountMinor, c)
	}
	w := contract.Transfer{
		ID: t.RequestID, TransferID: t.ID, From: t.From, To: t.To, Amount: amount, Currency: t.Currency,
		Status: status, Reason: t.Reason, Message: t.Message, Done: t.State == transfer.Done,
		RefundOf: t.RefundOf, CreatedAt: t.CreatedAt, DecidedAt: t.DecidedAt,
	}
	if c, err := money.LookupCurrency(t.Currency); err == nil && t.Refunded > 0 {
		w.Refunded = money.Format(t.Refunded, c)
	}
	return w
}

func (a *API) toWire(ctx context.Context, err error) *contract.Error {
	var pe *money.ParseError
	switch {
	case errors.Is(err, transfer.ErrInvalidAmount) && errors.As(err, &pe):
		return contract.Errorf(contract.CodeInvalidAmount, "%s: nothing was logged; send it again with a valid amount, the same id will do", pe)
	case errors.Is(err, transfer.ErrAccountNotFound):
		return contract.Errorf(contract.CodeAccountNotFound, "%s: nothing was logged; send it again with an existing account, the same id will do", err)
	case errors.Is(err, transfer.ErrCurrencyMismatch):
		return contract.Errorf(contract.CodeCurrencyMismatch, "%s: nothing was logged", err)
	case errors.Is(err, transfer.ErrNotRefundable):
		return contract.Errorf(contract.CodeNotRefundable, "%s: nothing was logged", err)
	case errors.Is(err, transfer.ErrRefundExceeds):
		return contract.Errorf(contract.CodeRefundExceeds, "%s: nothing was logged; send a smaller amount, the same id will do", err)
	case errors.Is(err, transfer.ErrInvalidPayment):
		return contract.Errorf(contract.CodeInvalidPayment, "%s: nothing was logged; send it again corrected, the same id will do", err)
	case errors.Is(err, transfer.ErrCurrencyUnknown):
		return contract.Errorf(contract.CodeNodeUnavailable, "%s: nothing was logged; send it again later, the same id will do", err)
	case errors.Is(err, transfer.ErrInvalidRate):
		return contract.Errorf(contract.CodeInvalidRate, "%s: nothing was set", err)
	case errors.Is(err, transfer.ErrRateNotFound):
		return contract.Errorf(contract.CodeRateNotFound, "%s: nothing was logged", err)
	case errors.Is(err, transfer.ErrUnknownQuote):
		return contract.Errorf(contract.CodeUnknownQuote, "%s: nothing was logged", err)
	case errors.Is(err, transfer.ErrQuoteExpired):
		return contract.Errorf(contract.CodeQuoteExpired, "%s: nothing was logged", err)
	case errors.Is(err, transfer.ErrQuoteUsed):
		return contract.Errorf(contract.CodeQuoteUsed, "%s: nothing was logged", err)
	case errors.Is(err, transfer.ErrQuoteMismatch):
		return contract.Errorf(contract.CodeQuoteMismatch, "%s: nothing was logged", err)
	case errors.Is(err, transfer.ErrNotExchange):
		return contract.Errorf(contract.CodeBadRequest, "%s", err)
	case errors.Is(err, transfer.ErrConflict):
		return contract.Errorf(contract.CodeConflict, "%s: use a new id for a new transfer", err)
	case errors.Is(err, transfer.ErrNotFound):
		return contract.Errorf(contract.CodeUnknownTransfer, "no such transfer: check the id (and, for a status, the paying account in the subject)")
	case errors.Is(err, context.DeadlineExceeded):
		return contract.Errorf(contract.CodeTimeout, "no answer in %s: ask for the status with the same id", a.Timeout)
	}
	a.Log.ErrorContext(ctx, "internal error", "err", err)
	return contract.Errorf(contract.CodeInternal, "the coordinator failed: retry with the same id")
}

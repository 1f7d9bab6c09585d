// Package client is the typed Go client of TSBank's NATS API. Each method sends one request and
// decodes the reply; an error reply comes back as a *contract.Error with its code.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"tsbank/contract"
	"tsbank/contract/natstrace"
)

// Client talks to TSBank over one NATS connection.
type Client struct {
	nc *nats.Conn
}

// New returns a client using nc; the caller owns nc.
func New(nc *nats.Conn) *Client { return &Client{nc: nc} }

// Open opens account id.
func (c *Client) Open(ctx context.Context, id string, req contract.OpenRequest) (contract.Account, error) {
	var a contract.Account
	return a, c.Call(ctx, contract.AccountSubject(id, contract.OpOpen), req, &a)
}

// OpenGenerated opens an account whose id the system derives from the request id.
func (c *Client) OpenGenerated(ctx context.Context, req contract.OpenRequest) (contract.Account, error) {
	var a contract.Account
	return a, c.Call(ctx, contract.SubjectOpenGenerated, req, &a)
}

// Get returns the state of account id.
func (c *Client) Get(ctx context.Context, id string) (contract.Account, error) {
	var a contract.Account
	return a, c.Call(ctx, contract.AccountSubject(id, contract.OpGet), nil, &a)
}

// Balance returns the balances of account id.
func (c *Client) Balance(ctx context.Context, id string) (contract.Balance, error) {
	var b contract.Balance
	return b, c.Call(ctx, contract.AccountSubject(id, contract.OpBalance), nil, &b)
}

// Deposit adds money to account id.
func (c *Client) Deposit(ctx context.Context, id string, req contract.MoneyRequest) (contract.Receipt, error) {
	var r contract.Receipt
	return r, c.Call(ctx, contract.AccountSubject(id, contract.OpDeposit), req, &r)
}

// Withdraw takes money from account id.
func (c *Client) Withdraw(ctx context.Context, id string, req contract.MoneyRequest) (contract.Receipt, error) {
	var r contract.Receipt
	return r, c.Call(ctx, contract.AccountSubject(id, contract.OpWithdraw), req, &r)
}

// Close closes account id.
func (c *Client) Close(ctx context.Context, id string, req contract.CloseRequest) (contract.Account, error) {
	var a contract.Account
	return a, c.Call(ctx, contract.AccountSubject(id, contract.OpClose), req, &a)
}

// SetLimit sets the overdraft limit of account id (an operator's request).
func (c *Client) SetLimit(ctx context.Context, id string, req contract.LimitRequest) (contract.Account, error) {
	var a contract.Account
	return a, c.Call(ctx, contract.AccountSubject(id, contract.OpLimit), req, &a)
}

// Whereis returns the node that owns account id.
func (c *Client) Whereis(ctx context.Context, id string) (contract.Whereis, error) {
	var w contract.Whereis
	return w, c.Call(ctx, contract.AccountSubject(id, contract.OpWhereis), nil, &w)
}

// List returns one page of accounts.
func (c *Client) List(ctx context.Context, req contract.ListRequest) (contract.AccountList, error) {
	var l contract.AccountList
	return l, c.Call(ctx, contract.SubjectListAccounts, req, &l)
}

// Nodes lists the live account nodes.
func (c *Client) Nodes(ctx context.Context) (contract.NodeList, error) {
	var l contract.NodeList
	return l, c.Call(ctx, contract.SubjectListNodes, nil, &l)
}

// Call sends req (JSON-encoded; nil sends an empty body) to subject and decodes the reply into
// reply. An error reply is returned as a *contract.Error; no responder as node_unavailable. An
// account that is moving to another node is asked again, every movingPause, while ctx lasts (at
// most movingWait if ctx has no deadline): a move holds an account for milliseconds.
func (c *Client) Call(ctx context.Context, subject string, req, reply any) error {
	start := time.Now()
	var moving error
	for {
		err := c.call(ctx, subject, req, reply)
		if moving != nil && ctx.Err() != nil {
			return moving // what the bank last said, rather than that the caller's time ran out
		}
		if contract.CodeOf(err) != contract.CodeAccountMoving {
			return err
		}
		moving = err
		if _, ok := ctx.Deadline(); !ok && time.Since(start) > movingWait {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(movingPause):
		}
	}
}

const (
	movingPause = 20 * time.Millisecond
	movingWait  = 2 * time.Second
)

// call sends one request, in a client span whose context the request's headers carry, so that
// the service's spans join the caller's trace.
func (c *Client) call(ctx context.Context, subject string, req, reply any) (err error) {
	ctx, span := natstrace.Start(ctx, spanName(subject), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("messaging.destination.name", subject)))
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		if span.IsRecording() {
			span.SetAttributes(transferAttrs(req, reply, err)...)
		}
		span.End()
	}()
	var data []byte
	if req != nil {
		if data, err = json.Marshal(req); err != nil {
			return fmt.Errorf("encode request for %s: %w", subject, err)
		}
	}
	h := nats.Header{}
	if deadline, ok := ctx.Deadline(); ok {
		// The service drops the request unanswered if it has not started on it by then.
		h.Set(contract.DeadlineHeader, contract.FormatDeadline(deadline))
	}
	natstrace.Inject(ctx, h) // nothing when tracing is off and the caller had no trace
	m := &nats.Msg{Subject: subject, Data: data}
	if len(h) > 0 {
		m.Header = h
	}
	msg, err := c.nc.RequestMsgWithContext(ctx, m)
	if errors.Is(err, nats.ErrNoResponders) {
		return contract.Errorf(contract.CodeNodeUnavailable, "no service answers on %s", subject)
	}
	if err != nil {
		return fmt.Errorf("request %s: %w", subject, err)
	}
	if e := ReplyError(msg); e != nil {
		return e
	}
	if err := json.Unmarshal(msg.Data, reply); err != nil {
		return fmt.Errorf("decode reply from %s: %w", subject, err)
	}
	return nil
}

// spanName names a request's span after its endpoint (`transfer`, `node_legs`), not its subject,
// which names accounts: span names must be few.
func spanName(subject string) string {
	if e, _, ok := contract.Tokens(subject); ok {
		return "request " + e.Name
	}
	return "request"
}

// transferAttrs are the transfer ids a request or its reply names, for its span: a transfer's or
// payment's once the coordinator has given it one, every step's for a batch of legs.
func transferAttrs(req, reply any, err error) []attribute.KeyValue {
	if b, ok := req.(contract.LegBatch); ok {
		ids := make([]string, len(b.Steps))
		for i, st := range b.Steps {
			ids[i] = st.TransferID
		}
		return []attribute.KeyValue{natstrace.TransferIDs.StringSlice(ids)}
	}
	if err != nil {
		return nil
	}
	switch r := reply.(type) {
	case *contract.Transfer:
		return natstrace.Transfer(r.TransferID)
	case *contract.Payment:
		return natstrace.Transfer(r.PaymentID)
	}
	return nil
}

// ReplyError returns the error a reply carries in its micro error headers, or nil.
func ReplyError(msg *nats.Msg) *contract.Error {
	code := msg.Header.Get(contract.ErrorCodeHeader)
	if code == "" {
		return nil
	}
	return &contract.Error{Code: contract.Code(code), Message: msg.Header.Get(contract.ErrorHeader)}
}

// Transfer pays from account from; the reply says committed or aborted, with the reason.
func (c *Client) Transfer(ctx context.Context, from string, req contract.TransferRequest) (contract.Transfer, error) {
	var t contract.Transfer
	return t, c.Call(ctx, contract.TransferSubject(from), req, &t)
}

// TransferStatus returns the transfer paid from from with request id id.
func (c *Client) TransferStatus(ctx context.Context, from, id string) (contract.Transfer, error) {
	var t contract.Transfer
	return t, c.Call(ctx, contract.TransferStatusSubject(from), contract.TransferStatusRequest{ID: id}, &t)
}

// Refund pays back, from payee, some or all of the committed transfer req.TransferID.
func (c *Client) Refund(ctx context.Context, payee string, req contract.RefundRequest) (contract.Transfer, error) {
	var t contract.Transfer
	return t, c.Call(ctx, contract.TransferRefundSubject(payee), req, &t)
}

// SetRate sets an exchange rate (an operator's request).
func (c *Client) SetRate(ctx context.Context, req contract.RateSetRequest) (contract.Rate, error) {
	var r contract.Rate
	return r, c.Call(ctx, contract.SubjectRatesSet, req, &r)
}

// Rates lists the rates in force, or every rate ever set.
func (c *Client) Rates(ctx context.Context, req contract.RatesRequest) (contract.RateList, error) {
	var l contract.RateList
	return l, c.Call(ctx, contract.SubjectRates, req, &l)
}

// Quote fixes a rate for a short time for a cross-currency transfer from payer.
func (c *Client) Quote(ctx context.Context, payer string, req contract.QuoteRequest) (contract.Quote, error) {
	var q contract.Quote
	return q, c.Call(ctx, contract.QuoteSubject(payer), req, &q)
}

// Pay runs a payment among several accounts (an operator's request); the reply says committed or
// aborted, with the first refusing leg's reason, and every leg's vote.
func (c *Client) Pay(ctx context.Context, req contract.PaymentRequest) (contract.Payment, error) {
	var p contract.Payment
	return p, c.Call(ctx, contract.SubjectPayments, req, &p)
}

// PaymentStatus returns the payment with request id id.
func (c *Client) PaymentStatus(ctx context.Context, id string) (contract.Payment, error) {
	var p contract.Payment
	return p, c.Call(ctx, contract.SubjectPaymentStatus, contract.PaymentStatusRequest{ID: id}, &p)
}

// PendingTransfers lists transfers in flight and in doubt.
func (c *Client) PendingTransfers(ctx context.Context) (contract.PendingList, error) {
	var l contract.PendingList
	return l, c.Call(ctx, contract.SubjectTransfersPending, nil, &l)
}

// Ping asks each named micro service (`account`, `coordinator`, `history`, `customers`) for
// `$SRV.PING.<name>`, and returns an error naming the first one that no instance answers.
func (c *Client) Ping(ctx context.Context, services ...string) error {
	for _, name := range services {
		if _, err := c.nc.RequestWithContext(ctx, "$SRV.PING."+name, nil); err != nil {
			return fmt.Errorf("the %s service does not answer: %w", name, err)
		}
	}
	return nil
}

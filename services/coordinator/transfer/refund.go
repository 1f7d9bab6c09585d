package transfer

import (
	"context"
	"fmt"

	"tsbank/contract"
	"tsbank/contract/money"
)

// RefundRequest asks to pay back some or all of a committed transfer: From is the account that
// received it (the payee refunds), RequestID its idempotency key, scoped to From like a
// transfer's. Amount "" means what is left of the original.
type RefundRequest struct {
	From        string
	RequestID   string
	Fingerprint []byte
	Original    Original
	Amount      string
	Description string
}

// Original names the transfer a refund pays back: by its transfer id, or, when that is empty, by
// its paying account and that account's request id (as a status names it).
type Original struct {
	TransferID string
	From       string
	RequestID  string
}

func (o Original) String() string {
	if o.TransferID != "" {
		return o.TransferID
	}
	return o.From + "/" + o.RequestID
}

// NewRefund is the rule of a refund: the log record that refunds original for r, given refunded,
// the sum of original's refunds not aborted. Only a committed transfer that is not itself a refund
// can be refunded, only by its payee, and never by more in total than its amount; the amount is
// read in the original's currency, and defaults to what is left. The refund is a transfer the
// other way, payee to payer, linked to the original by RefundOf.
func NewRefund(original Transfer, refunded int64, r RefundRequest) (Transfer, error) {
	switch {
	case original.RefundOf != "":
		return Transfer{}, fmt.Errorf("%w: %s is itself a refund (of %s)", ErrNotRefundable, original.ID, original.RefundOf)
	case original.To != r.From:
		return Transfer{}, fmt.Errorf("%w: %s was not paid to %s; only its payee can refund it", ErrNotRefundable, original.ID, r.From)
	case original.Outcome != contract.TransferCommitted:
		return Transfer{}, fmt.Errorf("%w: %s is %s, not committed", ErrNotRefundable, original.ID, original.State)
	}
	c, err := money.LookupCurrency(original.Currency)
	if err != nil {
		return Transfer{}, fmt.Errorf("refund of %s: %w", original.ID, err)
	}
	left := original.AmountMinor - refunded
	if left <= 0 {
		return Transfer{}, fmt.Errorf("%w: %s of %s %s is refunded in full already", ErrRefundExceeds, original.ID,
			money.Format(original.AmountMinor, c), c.Code)
	}
	amount := left
	if r.Amount != "" {
		if amount, err = money.Parse(r.Amount, c); err != nil {
			return Transfer{}, fmt.Errorf("%w: %w", ErrInvalidAmount, err)
		}
	}
	if amount > left {
		return Transfer{}, fmt.Errorf("%w: %s %s asked, %s %s left of %s (%s %s, %s refunded or being refunded)", ErrRefundExceeds,
			money.Format(amount, c), c.Code, money.Format(left, c), c.Code, original.ID,
			money.Format(original.AmountMinor, c), c.Code, money.Format(refunded, c))
	}
	return Transfer{
		From: original.To, To: original.From, RequestID: r.RequestID, Fingerprint: r.Fingerprint,
		Amount: money.Format(amount, c), Description: r.Description, RefundOf: original.ID, State: contract.TransferPreparing,
		Currency: c.Code, AmountMinor: amount,
	}, nil
}

// Refund logs a refund of r.Original (NewRefund's rule, checked in the same transaction that
// logs it, so that concurrent refunds cannot together pass the original's amount) and runs it
// through the same two-phase commit as a transfer. A retry of an earlier request waits for, and
// returns, that request's outcome. A refused refund logs nothing and leaves its id unused.
func (c *Coordinator) Refund(ctx context.Context, r RefundRequest) (Transfer, error) {
	start := c.Now()
	id := c.NewID()
	rec, created, err := c.Store.LogRefund(ctx, Transfer{ID: id, From: r.From, RequestID: r.RequestID, Fingerprint: r.Fingerprint}, r.Original,
		func(original Transfer, refunded int64) (Transfer, error) {
			t, err := NewRefund(original, refunded, r)
			t.ID = id
			return t, err
		})
	if err != nil {
		return rec, err
	}
	if !created {
		return c.await(ctx, rec)
	}
	c.Metrics.InFlight(1)
	defer c.Metrics.InFlight(-1)
	c.Metrics.Phase("log", c.Now().Sub(start))
	return c.run(ctx, rec)
}

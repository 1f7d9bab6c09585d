package transfer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"tsbank/contract"
	"tsbank/contract/money"
)

// ErrInvalidPayment refuses a payment request that no participant could accept whatever its
// accounts' state: too few or too many legs, an account twice, a side that is neither debit nor
// credit, debits and credits that do not balance, accounts in more than one currency, an amount
// the currency cannot hold. Like a transfer's, such a request is refused before anything is
// logged, so its id stays unused.
var ErrInvalidPayment = errors.New("invalid payment")

// ErrCurrencyUnknown refuses, before logging, a payment with an account whose currency cannot be
// told now (its node does not answer). A transfer in that case is logged and left to its vote;
// a payment is checked whole first, since its balance is only meaningful in one currency.
var ErrCurrencyUnknown = errors.New("an account's currency cannot be told now")

// PaymentRequest asks to move money among several accounts at once, all or nothing.
type PaymentRequest struct {
	RequestID   string // the operator's idempotency key
	Fingerprint []byte
	Legs        []LegRequest
	Description string
}

// LegRequest is one account's part in a payment request.
type LegRequest struct {
	Account string
	Amount  string
	Side    contract.Side
}

// Payment is one payment of the coordinator's log: one decision for all its legs. An operator's
// payment is in one currency; a cross-currency transfer (Exchange set) is a payment of four legs
// in two, whose Payer scopes its request id.
type Payment struct {
	ID          string
	Payer       string // of a cross-currency transfer: its payer; "" for an operator's payment
	RequestID   string
	Fingerprint []byte
	Description string
	Currency    string
	AmountMinor int64     // the sum of the debits, which is the sum of the credits; of an exchange, the payer's
	Exchange    *Exchange // of a cross-currency transfer: its quote, rate and both amounts
	Legs        []PaymentLeg
	State       contract.TransferState
	Outcome     contract.TransferState
	Reason      contract.Code
	Message     string
	Resends     int
	CreatedAt   time.Time
	DecidedAt   *time.Time
}

// PaymentLeg is one account's leg of a payment, its vote and whether it acknowledged the decision.
type PaymentLeg struct {
	Name        string // the leg's name on its node: "debit.N" or "credit.N", N its place from 1
	Account     string
	Side        contract.Side
	Currency    string // the leg's account's
	Amount      string // canonical, in the leg's currency
	AmountMinor int64
	// Counterparty is what the leg's event names as the other side, when the payment says
	// (an exchange's legs); "" leaves it to the rule of Payment.Counterparty.
	Counterparty string
	Vote         string // yes or no:<reason>; empty until it votes
	Acked        bool
}

// Counterparty is what a leg's event names as the other side: the leg's own if it has one (an
// exchange's payer and payee name each other, not the exchange accounts between them), else the
// one account on the other side if there is exactly one (a payroll's payer, a bill split's
// payee), else "" (no single account paid or was paid by this one).
func (p Payment) Counterparty(leg PaymentLeg) string {
	if leg.Counterparty != "" {
		return leg.Counterparty
	}
	other := ""
	for _, l := range p.Legs {
		if l.Side == leg.Side {
			continue
		}
		if other != "" {
			return ""
		}
		other = l.Account
	}
	return other
}

// NewPayment is the rule of a payment request, checked before it is logged: 2 to MaxPaymentLegs
// legs on distinct accounts, each a debit or a credit of a positive amount, at least one of each,
// all in one currency (currency(account) tells an account's, or fails: a missing account is
// ErrAccountNotFound), and the debits summing to the credits. It returns the payment to log,
// preparing, with its legs named and their amounts canonical.
func NewPayment(r PaymentRequest, currency func(account string) (money.Currency, error)) (Payment, error) {
	if n := len(r.Legs); n < 2 || n > contract.MaxPaymentLegs {
		return Payment{}, fmt.Errorf("%w: a payment has 2 to %d legs, not %d", ErrInvalidPayment, contract.MaxPaymentLegs, n)
	}
	p := Payment{RequestID: r.RequestID, Fingerprint: r.Fingerprint, Description: r.Description, State: contract.TransferPreparing}
	seen := map[string]bool{}
	var cur money.Currency
	for i, l := range r.Legs {
		if l.Side != contract.SideDebit && l.Side != contract.SideCredit {
			return Payment{}, fmt.Errorf(`%w: leg %d (%s): side %q, send "debit" or "credit"`, ErrInvalidPayment, i+1, l.Account, l.Side)
		}
		if seen[l.Account] {
			return Payment{}, fmt.Errorf("%w: account %s has two legs; one leg per account", ErrInvalidPayment, l.Account)
		}
		seen[l.Account] = true
		c, err := currency(l.Account)
		if errors.Is(err, ErrAccountNotFound) {
			return Payment{}, fmt.Errorf("%w: %s, of leg %d, does not exist", ErrAccountNotFound, l.Account, i+1)
		}
		if err != nil {
			return Payment{}, fmt.Errorf("%w: leg %d (%s): %w", ErrCurrencyUnknown, i+1, l.Account, err)
		}
		if i == 0 {
			cur = c
		} else if c.Code != cur.Code {
			return Payment{}, fmt.Errorf("%w: %s is in %s and %s in %s; a payment moves one currency", ErrCurrencyMismatch,
				r.Legs[0].Account, cur.Code, l.Account, c.Code)
		}
		n, err := money.Parse(l.Amount, c)
		if err != nil {
			return Payment{}, fmt.Errorf("%w: leg %d (%s): %w", ErrInvalidAmount, i+1, l.Account, err)
		}
		p.Legs = append(p.Legs, PaymentLeg{Name: contract.PaymentLegName(l.Side, i+1), Account: l.Account, Side: l.Side,
			Currency: c.Code, Amount: money.Format(n, c), AmountMinor: n})
	}
	if err := balanced(p.Legs); err != nil {
		return Payment{}, err
	}
	p.Currency = cur.Code
	for _, l := range p.Legs {
		if l.Side == contract.SideDebit {
			p.AmountMinor += l.AmountMinor
		}
	}
	return p, nil
}

// balanced is the rule every payment keeps, in one currency or several: at least one debit and
// one credit, and in each currency the debits summing to the credits (and to no more than
// money.MaxMinor), so that each currency's total is conserved on its own.
func balanced(legs []PaymentLeg) error {
	var debits, credits int
	sums := map[string]*[2]int64{} // per currency: debits, credits
	var order []string
	for _, l := range legs {
		s, ok := sums[l.Currency]
		if !ok {
			s = new([2]int64)
			sums[l.Currency] = s
			order = append(order, l.Currency)
		}
		if l.Side == contract.SideDebit {
			debits++
			s[0] += l.AmountMinor
		} else {
			credits++
			s[1] += l.AmountMinor
		}
	}
	if debits == 0 || credits == 0 {
		return fmt.Errorf("%w: a payment needs at least one debit and one credit", ErrInvalidPayment)
	}
	for _, code := range order {
		s := sums[code]
		c, err := money.LookupCurrency(code)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidPayment, err)
		}
		switch {
		case s[0] != s[1]:
			return fmt.Errorf("%w: the debits sum to %s %s and the credits to %s %s; they must be equal", ErrInvalidPayment,
				money.Format(s[0], c), c.Code, money.Format(s[1], c), c.Code)
		case s[0] > money.MaxMinor:
			return fmt.Errorf("%w: the payment moves more than %s %s", ErrInvalidPayment, money.Format(money.MaxMinor, c), c.Code)
		}
	}
	return nil
}

// PaymentDecision is the coordinator's decision on a payment and each leg's vote, in leg order.
type PaymentDecision struct {
	Outcome contract.TransferState
	Reason  contract.Code
	Message string
	Votes   []string
}

// DecidePayment turns the legs' votes (in leg order) into one decision: commit only if every leg
// said yes, in its own currency, for its own amount; otherwise abort with the reason of the
// first leg, in the request's order, that refused (so the same votes always give the same reason).
func DecidePayment(p Payment, votes []Vote) PaymentDecision {
	d := PaymentDecision{Outcome: contract.TransferCommitted, Votes: make([]string, len(votes))}
	for i, v := range votes {
		d.Votes[i] = v.String()
	}
	for i, v := range votes {
		leg := p.Legs[i]
		switch {
		case !v.Yes:
			d.Reason, d.Message = v.Reason, v.Message
		case v.Currency != leg.Currency:
			d.Reason = contract.CodeCurrencyMismatch
			d.Message = fmt.Sprintf("account %s is in %s and its leg in %s", leg.Account, v.Currency, leg.Currency)
		case v.AmountMinor != leg.AmountMinor:
			d.Reason, d.Message = contract.CodeInternal, fmt.Sprintf("account %s's leg disagrees on its amount", leg.Account)
		default:
			continue
		}
		d.Outcome = contract.TransferAborted
		if d.Message == "" {
			d.Message = fmt.Sprintf("leg %s (%s) refused", leg.Name, leg.Account)
		}
		return d
	}
	return d
}

// PaymentStore is the coordinator's log of payments: as a transfer's, but with one vote and one
// acknowledgement per leg.
type PaymentStore interface {
	// BeginPayment records p and its legs as preparing; for a request id logged already it
	// returns that payment and created=false (ErrConflict if the fingerprints differ).
	BeginPayment(ctx context.Context, p Payment) (_ Payment, created bool, err error)
	// DecidePayment records d for payment id if it is still preparing, and returns the payment
	// as decided, by this call or an earlier one.
	DecidePayment(ctx context.Context, id string, d PaymentDecision) (Payment, error)
	// AckedPayment records the legs (positions from 1) that acknowledged the decision; with
	// every leg acknowledged the payment is done, else its next re-send is due after backoff.
	AckedPayment(ctx context.Context, id string, acked []int, backoff time.Duration) error
	GetPayment(ctx context.Context, id string) (Payment, error)
	PaymentByRequest(ctx context.Context, requestID string) (Payment, error)
	// StuckPayments lists up to limit payments still preparing and created before before.
	StuckPayments(ctx context.Context, before time.Time, limit int) ([]Payment, error)
	// ClaimPaymentResends returns up to limit decided payments not done whose re-send is due,
	// and pushes their next attempt back by lease.
	ClaimPaymentResends(ctx context.Context, limit int, lease time.Duration) ([]Payment, error)
	// PendingPayments lists up to limit payments not done, oldest first.
	PendingPayments(ctx context.Context, limit int) ([]Payment, error)
}

// Pay checks r (NewPayment's rule, before anything is logged), logs the payment, and runs it
// through two-phase commit with every leg: all prepared in parallel, one decision, delivered to
// every leg. A retry of an earlier request waits for, and returns, that request's outcome.
func (c *Coordinator) Pay(ctx context.Context, r PaymentRequest) (Payment, error) {
	// The currencies are asked of the nodes all at once (each is asked once, then kept), so that
	// 16 accounts not seen before cost one round trip, not 16 in a row.
	type known struct {
		c   money.Currency
		err error
	}
	currencies := make([]known, len(r.Legs))
	cctx, cancel := context.WithTimeout(ctx, c.PrepareTimeout)
	var wg sync.WaitGroup
	for i, l := range r.Legs {
		wg.Go(func() { currencies[i].c, currencies[i].err = c.Legs.Currency(cctx, l.Account) })
	}
	wg.Wait()
	cancel()
	byAccount := map[string]known{}
	for i, l := range r.Legs {
		byAccount[l.Account] = currencies[i]
	}
	p, err := NewPayment(r, func(account string) (money.Currency, error) { k := byAccount[account]; return k.c, k.err })
	if err != nil {
		return p, err
	}
	p.ID = c.NewID()
	start := c.Now()
	rec, created, err := c.Store.BeginPayment(ctx, p)
	if err != nil {
		return rec, err
	}
	if !created {
		return c.awaitPayment(ctx, rec)
	}
	c.Metrics.InFlight(1)
	defer c.Metrics.InFlight(-1)
	c.Metrics.Phase("log", c.Now().Sub(start))
	return c.runPayment(ctx, rec)
}

// runPayment drives rec, logged as preparing, through prepare, decision and delivery: the one
// path of payments and cross-currency transfers alike.
func (c *Coordinator) runPayment(ctx context.Context, rec Payment) (Payment, error) {
	start := c.Now()
	pctx, cancel := context.WithTimeout(ctx, c.PrepareTimeout)
	var wg sync.WaitGroup
	votes := make([]Vote, len(rec.Legs))
	for i, l := range rec.Legs {
		wg.Go(func() { votes[i] = c.Legs.Prepare(pctx, l.Account, rec.legTransfer(l), l.Name) })
	}
	wg.Wait()
	cancel()
	c.Metrics.Phase("prepare", c.Now().Sub(start))

	start = c.Now()
	// The decision must be durable even if the client gave up waiting meanwhile.
	rec, err := c.Store.DecidePayment(context.WithoutCancel(ctx), rec.ID, DecidePayment(rec, votes))
	if err != nil {
		return rec, err // undecided: recovery will abort it, and the legs wait until then
	}
	c.Metrics.Phase("decide", c.Now().Sub(start))
	c.Metrics.Outcome(rec.Outcome, rec.Reason)

	start = c.Now()
	rec = c.deliverPayment(context.WithoutCancel(ctx), rec)
	c.Metrics.Phase("commit", c.Now().Sub(start))
	return rec, nil
}

// legTransfer is what the participants' port needs to prepare or decide leg l: the payment's id,
// the leg's amount, and its counterparty in both From and To (the port picks one by the leg's
// side, and a payment leg's counterparty is the same either way).
func (p Payment) legTransfer(l PaymentLeg) Transfer {
	cp := p.Counterparty(l)
	return Transfer{ID: p.ID, From: cp, To: cp, Amount: l.Amount, Description: p.Description, Exchange: p.Exchange}
}

// deliverPayment sends the decision to every leg that has not acknowledged it, in parallel, and
// records the acknowledgements; the others are re-sent by Recover, with backoff.
func (c *Coordinator) deliverPayment(ctx context.Context, p Payment) Payment {
	commit := p.Outcome == contract.TransferCommitted
	// As in deliver, each goroutine writes its own element of acked, not its leg's field: the
	// others read every leg (legTransfer's counterparty) meanwhile.
	acked := make([]bool, len(p.Legs))
	var wg sync.WaitGroup
	for i, l := range p.Legs {
		if acked[i] = l.Acked; l.Acked {
			continue
		}
		wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, c.SendTimeout)
			defer cancel()
			if err := c.Legs.Send(sctx, l.Account, p.legTransfer(l), l.Name, commit); err != nil {
				c.Log.WarnContext(ctx, "decision not acknowledged", "transfer_id", p.ID, "leg", l.Name, "outcome", p.Outcome, "err", err)
				return
			}
			acked[i] = true
		})
	}
	wg.Wait()
	var positions []int
	for i := range p.Legs {
		if p.Legs[i].Acked = acked[i]; acked[i] {
			positions = append(positions, i+1)
		}
	}
	if err := c.Store.AckedPayment(ctx, p.ID, positions, c.backoff(p.Resends)); err != nil {
		c.Log.ErrorContext(ctx, "record acknowledgements", "transfer_id", p.ID, "err", err)
	}
	if len(positions) == len(p.Legs) {
		p.State = Done
	}
	return p
}

// awaitPayment waits for another request's payment to be decided, or for ctx to end.
func (c *Coordinator) awaitPayment(ctx context.Context, p Payment) (Payment, error) {
	wait := 5 * time.Millisecond
	for p.State == contract.TransferPreparing {
		select {
		case <-ctx.Done():
			return p, nil // still preparing: the client may ask for the status later
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
		var err error
		if p, err = c.Store.GetPayment(ctx, p.ID); err != nil {
			return p, err
		}
	}
	return p, nil
}

// PaymentStatus returns the payment logged for request id requestID.
func (c *Coordinator) PaymentStatus(ctx context.Context, requestID string) (Payment, error) {
	return c.Store.PaymentByRequest(ctx, requestID)
}

// PendingPayments lists payments without a decision and decided payments a leg has not
// acknowledged.
func (c *Coordinator) PendingPayments(ctx context.Context) ([]Payment, error) {
	return c.Store.PendingPayments(ctx, 1000)
}

// ResolvePayment drives payment id to its outcome now, as Resolve does a transfer: an undecided
// one is aborted, a decided one has its decision re-sent to the legs that have not acknowledged.
func (c *Coordinator) ResolvePayment(ctx context.Context, id string) (Payment, error) {
	p, err := c.Store.GetPayment(ctx, id)
	if err != nil {
		return p, err
	}
	if p.State == contract.TransferPreparing {
		if p, err = c.abortPayment(ctx, id, "resolved", "aborted by an operator before a decision"); err != nil {
			return p, err
		}
	}
	if p.State != Done {
		p = c.deliverPayment(ctx, p)
	}
	return p, nil
}

// recoverPayments is Recover for payments: presumed abort of those undecided past StuckAfter,
// and re-sends of due decisions not acknowledged by every leg.
func (c *Coordinator) recoverPayments(ctx context.Context) (aborted, resent int, err error) {
	stuck, err := c.Store.StuckPayments(ctx, c.Now().Add(-c.StuckAfter()), 100)
	if err != nil {
		return 0, 0, err
	}
	for _, p := range stuck {
		rec, err := c.abortPayment(ctx, p.ID, contract.CodeTimeout, "no decision was recorded in time (its coordinator stopped): presumed abort")
		if err != nil {
			return aborted, resent, err
		}
		c.deliverPayment(ctx, rec)
		aborted++
	}
	due, err := c.Store.ClaimPaymentResends(ctx, 100, 2*c.SendTimeout)
	if err != nil {
		return aborted, resent, err
	}
	for _, p := range due {
		legs := 0
		for _, l := range p.Legs {
			if !l.Acked {
				legs++
			}
		}
		c.Metrics.Resent(legs)
		c.deliverPayment(ctx, p)
	}
	return aborted, len(due), nil
}

func (c *Coordinator) abortPayment(ctx context.Context, id string, reason contract.Code, message string) (Payment, error) {
	p, err := c.Store.DecidePayment(ctx, id, PaymentDecision{Outcome: contract.TransferAborted, Reason: reason, Message: message})
	if err == nil && p.Reason == reason {
		c.Metrics.Outcome(p.Outcome, p.Reason)
	}
	return p, err
}

// paymentOutcome is Outcome for a payment's leg; found is false if id is no payment.
func (c *Coordinator) paymentOutcome(ctx context.Context, id string) (outcome contract.TransferState, found bool, err error) {
	p, err := c.Store.GetPayment(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", true, err
	}
	if p.State == contract.TransferPreparing {
		if c.Now().Sub(p.CreatedAt) < c.StuckAfter() {
			return contract.TransferPreparing, true, nil
		}
		if p, err = c.abortPayment(ctx, id, contract.CodeTimeout, "undecided when a participant asked: presumed abort"); err != nil {
			return "", true, err
		}
	}
	return p.Outcome, true, nil
}

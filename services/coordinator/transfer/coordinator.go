package transfer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"tsbank/contract"
	"tsbank/contract/money"
)

// Participants reaches the account nodes that own the legs.
type Participants interface {
	// Prepare asks account's node to hold its leg of t. A failure to get an answer is a no vote
	// with a reason (timeout, node_unavailable), never an error.
	Prepare(ctx context.Context, account string, t Transfer, leg string) Vote
	// Send delivers the decision for leg; nil means the node acknowledged it.
	Send(ctx context.Context, account string, t Transfer, leg string, commit bool) error
	// Currency returns account's currency, ErrAccountNotFound if no node has such an account, or
	// another error when it cannot be told now (its node does not answer). An account's currency
	// never changes, so an implementation may keep what it learned.
	Currency(ctx context.Context, account string) (money.Currency, error)
}

// Metrics receives what the coordinator measures; the server implements it with Prometheus
// metrics.
type Metrics interface {
	Phase(name string, d time.Duration) // log, prepare, decide, commit
	Outcome(outcome contract.TransferState, reason contract.Code)
	Resent(legs int)
	InFlight(delta int)
}

// Coordinator drives transfers through two-phase commit.
type Coordinator struct {
	Store   Store
	Legs    Participants
	Log     *slog.Logger
	Metrics Metrics
	NewID   func() string
	// Now is the clock that decides whether an undecided transfer is stuck, whether a quote has
	// expired and which rate is in force, and that times the phases for Metrics; tests set a
	// fake one. The re-send schedule is the store's (next_attempt_at), not this clock's.
	Now func() time.Time
	// PrepareTimeout bounds the prepare phase: a leg that has not voted by then counts as no.
	PrepareTimeout time.Duration
	// SendTimeout bounds one attempt to deliver a decision to a leg.
	SendTimeout time.Duration
	// MaxBackoff caps the wait between re-sends of an unacknowledged decision.
	MaxBackoff time.Duration
	// QuoteTTL is how long a quote's rate and amounts hold.
	QuoteTTL time.Duration
}

// StuckAfter is how old an undecided transfer must be before recovery aborts it: its own
// coordinator, if alive, has decided by then (its prepare phase has a deadline).
func (c *Coordinator) StuckAfter() time.Duration { return 2*c.PrepareTimeout + time.Second }

// Transfer runs t (a new log record) through two-phase commit and returns it decided. A retry
// of an earlier request waits for, and returns, that request's outcome.
func (c *Coordinator) Transfer(ctx context.Context, t Transfer) (Transfer, error) {
	if err := c.check(ctx, t); err != nil {
		return t, err
	}
	t.ID, t.State = c.NewID(), contract.TransferPreparing
	start := c.Now()
	rec, created, err := c.Store.Begin(ctx, t)
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

// run drives rec, logged as preparing, through prepare, decision and delivery: the one path of
// transfers and refunds alike.
func (c *Coordinator) run(ctx context.Context, rec Transfer) (Transfer, error) {
	start := c.Now()
	pctx, cancel := context.WithTimeout(ctx, c.PrepareTimeout)
	var debit, credit Vote
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); debit = c.Legs.Prepare(pctx, rec.From, rec, contract.LegDebit) }()
	go func() { defer wg.Done(); credit = c.Legs.Prepare(pctx, rec.To, rec, contract.LegCredit) }()
	wg.Wait()
	cancel()
	c.Metrics.Phase("prepare", c.Now().Sub(start))

	start = c.Now()
	// The decision must be durable even if the client gave up waiting meanwhile.
	rec, err := c.Store.Decide(context.WithoutCancel(ctx), rec.ID, Decide(debit, credit))
	if err != nil {
		return rec, err // undecided: recovery will abort it, and the legs wait until then
	}
	c.Metrics.Phase("decide", c.Now().Sub(start))
	c.Metrics.Outcome(rec.Outcome, rec.Reason)

	start = c.Now()
	rec = c.deliver(context.WithoutCancel(ctx), rec)
	c.Metrics.Phase("commit", c.Now().Sub(start))
	return rec, nil
}

// check refuses, before anything is logged, a transfer that no participant could accept whatever
// the state of its accounts: an account that does not exist, accounts in two currencies, an amount
// that the currency cannot hold (more decimals than it has, above the maximum). Such a request
// gets an error and leaves its id unused, to be sent again corrected; refused after logging, it
// would have been an aborted transfer that used the id up. What depends on an account's state
// (its funds, whether it is closed) is its leg's vote to say. An account whose node cannot be
// asked now is left to its vote too: a transfer is not refused for want of an answer.
func (c *Coordinator) check(ctx context.Context, t Transfer) error {
	ctx, cancel := context.WithTimeout(ctx, c.PrepareTimeout)
	defer cancel()
	accounts := [2]string{t.From, t.To}
	roles := [2]string{"the paying account", `the receiving account ("to")`}
	var currencies [2]money.Currency
	var errs [2]error
	var wg sync.WaitGroup
	for i, account := range accounts {
		wg.Go(func() { currencies[i], errs[i] = c.Legs.Currency(ctx, account) })
	}
	wg.Wait()
	for i, err := range errs {
		if errors.Is(err, ErrAccountNotFound) {
			return fmt.Errorf("%w: %s, %s, does not exist", ErrAccountNotFound, accounts[i], roles[i])
		}
	}
	if errs[0] == nil && errs[1] == nil && currencies[0].Code != currencies[1].Code {
		return fmt.Errorf("%w: %s is in %s and %s in %s; a transfer moves one currency", ErrCurrencyMismatch,
			t.From, currencies[0].Code, t.To, currencies[1].Code)
	}
	for i, err := range errs {
		if err != nil {
			continue
		}
		if _, err := money.Parse(t.Amount, currencies[i]); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidAmount, err)
		}
	}
	return nil
}

// deliver sends the decision to every leg that has not acknowledged it, in parallel, and records
// the acknowledgements (Store.Acked may do so after deliver returns: the client need not wait for
// bookkeeping). A leg that did not answer is re-sent later, with backoff, by Recover.
func (c *Coordinator) deliver(ctx context.Context, rec Transfer) Transfer {
	commit := rec.Outcome == contract.TransferCommitted
	// Each goroutine writes its own element of acked, never a field of rec: each passes rec
	// whole to Send, which would read the other leg's field while it is written.
	acked := [2]bool{rec.DebitAcked, rec.CreditAcked}
	send := func(i int, account, leg string) {
		if acked[i] {
			return
		}
		sctx, cancel := context.WithTimeout(ctx, c.SendTimeout)
		defer cancel()
		if err := c.Legs.Send(sctx, account, rec, leg, commit); err != nil {
			c.Log.WarnContext(ctx, "decision not acknowledged", "transfer_id", rec.ID, "leg", leg, "outcome", rec.Outcome, "err", err)
			return
		}
		acked[i] = true
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); send(0, rec.From, contract.LegDebit) }()
	go func() { defer wg.Done(); send(1, rec.To, contract.LegCredit) }()
	wg.Wait()
	rec.DebitAcked, rec.CreditAcked = acked[0], acked[1]
	if err := c.Store.Acked(ctx, rec.ID, rec.DebitAcked, rec.CreditAcked, c.backoff(rec.Resends)); err != nil {
		c.Log.ErrorContext(ctx, "record acknowledgements", "transfer_id", rec.ID, "err", err)
	}
	if rec.DebitAcked && rec.CreditAcked {
		rec.State = Done
	}
	return rec
}

func (c *Coordinator) backoff(resends int) time.Duration {
	d := c.SendTimeout
	for range min(resends, 16) {
		d *= 2
		if d >= c.MaxBackoff {
			return c.MaxBackoff
		}
	}
	return d
}

// await waits for another request's transfer to be decided, or for ctx to end.
func (c *Coordinator) await(ctx context.Context, rec Transfer) (Transfer, error) {
	wait := 5 * time.Millisecond
	for rec.State == contract.TransferPreparing {
		select {
		case <-ctx.Done():
			return rec, nil // still preparing: the client may ask for the status later
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
		var err error
		if rec, err = c.Store.Get(ctx, rec.ID); err != nil {
			return rec, err
		}
	}
	return rec, nil
}

// Status returns the transfer the paying account from made with request id requestID.
// An original's Refunded is the sum of its committed refunds.
func (c *Coordinator) Status(ctx context.Context, from, requestID string) (Transfer, error) {
	rec, err := c.Store.ByRequest(ctx, from, requestID)
	if err != nil || rec.RefundOf != "" || rec.Outcome != contract.TransferCommitted {
		return rec, err
	}
	rec.Refunded, err = c.Store.Refunded(ctx, rec.ID)
	return rec, err
}

// Recover aborts transfers left undecided (their coordinator died before deciding: presumed
// abort) and re-sends due decisions that a leg has not acknowledged. Every instance runs it; the
// conditional decision and the re-send lease keep them from stepping on each other.
func (c *Coordinator) Recover(ctx context.Context) (aborted, resent int, err error) {
	stuck, err := c.Store.Stuck(ctx, c.Now().Add(-c.StuckAfter()), 100)
	if err != nil {
		return 0, 0, err
	}
	for _, t := range stuck {
		rec, err := c.abort(ctx, t.ID, contract.CodeTimeout, "no decision was recorded in time (its coordinator stopped): presumed abort")
		if err != nil {
			return aborted, resent, err
		}
		c.deliver(ctx, rec)
		aborted++
	}
	due, err := c.Store.ClaimResends(ctx, 500, 2*c.SendTimeout)
	if err != nil {
		return aborted, resent, err
	}
	// Re-sends go out many at a time: after an outage thousands may be due, and one at a time
	// (two round trips each) they would take minutes to drain.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, rec := range due {
		legs := 0
		if !rec.DebitAcked {
			legs++
		}
		if !rec.CreditAcked {
			legs++
		}
		c.Metrics.Resent(legs)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c.deliver(ctx, rec)
		}()
	}
	wg.Wait()
	pa, pr, err := c.recoverPayments(ctx)
	return aborted + pa, len(due) + pr, err
}

func (c *Coordinator) abort(ctx context.Context, id string, reason contract.Code, message string) (Transfer, error) {
	rec, err := c.Store.Decide(ctx, id, Decision{Outcome: contract.TransferAborted, Reason: reason, Message: message})
	if err == nil && rec.Reason == reason {
		c.Metrics.Outcome(rec.Outcome, rec.Reason)
	}
	return rec, err
}

// Outcome answers a participant that asks about transfer id: committed or aborted once decided;
// aborted if there is no record (presumed abort) or if it has been undecided for too long (the
// abort is recorded first); preparing while its coordinator may still decide.
func (c *Coordinator) Outcome(ctx context.Context, id string) (contract.TransferState, error) {
	rec, err := c.Store.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		// Payments share the id space: a payment's leg asks by the payment's id.
		outcome, found, err := c.paymentOutcome(ctx, id)
		if found || err != nil {
			return outcome, err
		}
		return contract.TransferAborted, nil
	}
	if err != nil {
		return "", err
	}
	if rec.State == contract.TransferPreparing {
		if c.Now().Sub(rec.CreatedAt) < c.StuckAfter() {
			return contract.TransferPreparing, nil
		}
		if rec, err = c.abort(ctx, id, contract.CodeTimeout, "undecided when a participant asked: presumed abort"); err != nil {
			return "", err
		}
	}
	return rec.Outcome, nil
}

// Pending lists transfers without a decision and decided transfers not acknowledged by a leg.
func (c *Coordinator) Pending(ctx context.Context) (inFlight, inDoubt []Transfer, err error) {
	all, err := c.Store.Pending(ctx, 1000)
	for _, t := range all {
		if t.State == contract.TransferPreparing {
			inFlight = append(inFlight, t)
		} else {
			inDoubt = append(inDoubt, t)
		}
	}
	return inFlight, inDoubt, err
}

// Resolve drives transfer id to its outcome now: an undecided one is aborted, a decided one has
// its decision re-sent. It never changes a decision, so it cannot create or destroy money.
func (c *Coordinator) Resolve(ctx context.Context, id string) (Transfer, error) {
	rec, err := c.Store.Get(ctx, id)
	if err != nil {
		return rec, err
	}
	if rec.State == contract.TransferPreparing {
		if rec, err = c.abort(ctx, id, "resolved", "aborted by an operator before a decision"); err != nil {
			return rec, err
		}
	}
	if rec.State != Done {
		rec = c.deliver(ctx, rec)
	}
	return rec, nil
}

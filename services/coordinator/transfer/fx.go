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

// Refusals of exchange rates and quotes (docs/adr/0035). Like a transfer's refusals, each is
// returned before anything is logged.
var (
	ErrInvalidRate   = errors.New("invalid rate")
	ErrRateNotFound  = errors.New("no rate in force")
	ErrUnknownQuote  = errors.New("no such quote")
	ErrQuoteExpired  = errors.New("the quote has expired")
	ErrQuoteUsed     = errors.New("the quote is used already")
	ErrQuoteMismatch = errors.New("the transfer is not the quote's")
	ErrNotExchange   = errors.New("not an exchange between two currencies")
)

// Rate is one exchange rate as set: Rate units of Quote buy one unit of Base from ValidFrom on.
// Every rate ever set is kept; the one in force at a moment is the newest not valid after it.
type Rate struct {
	RequestID   string // the operator's idempotency key
	Fingerprint []byte
	Base, Quote string
	Rate        string // canonical (money.Rate.String)
	ValidFrom   time.Time
	SetAt       time.Time
	SetBy       string
}

// NewRate checks a rate an operator sets: two distinct known currencies and a rate money.ParseRate
// accepts, written canonically. validFrom zero means from now.
func NewRate(requestID string, fingerprint []byte, base, quote, rate string, validFrom, now time.Time, by string) (Rate, error) {
	for _, code := range []string{base, quote} {
		if _, err := money.LookupCurrency(code); err != nil {
			return Rate{}, fmt.Errorf("%w: %w", ErrInvalidRate, err)
		}
	}
	if base == quote {
		return Rate{}, fmt.Errorf("%w: base and quote are both %s", ErrInvalidRate, base)
	}
	r, err := money.ParseRate(rate)
	if err != nil {
		return Rate{}, fmt.Errorf("%w: %w", ErrInvalidRate, err)
	}
	if validFrom.IsZero() {
		validFrom = now
	}
	return Rate{RequestID: requestID, Fingerprint: fingerprint, Base: base, Quote: quote, Rate: r.String(), ValidFrom: validFrom, SetBy: by}, nil
}

// Quote fixes a rate and both amounts of one cross-currency transfer from Payer to Payee until
// ExpiresAt. RequestID is the payer's name for it, which the transfer uses; ID is the bank's.
type Quote struct {
	ID           string
	Payer        string
	RequestID    string
	Fingerprint  []byte
	Payee        string
	FromCurrency string
	FromMinor    int64
	ToCurrency   string
	ToMinor      int64
	Rate         string
	RateID       string // the request id of the rate it used
	CreatedAt    time.Time
	ExpiresAt    time.Time
	UsedBy       string // the payment that carried it out; "" while unused
}

// QuoteRequest asks for a quote of paying Amount (in the payer's currency) to Payee.
type QuoteRequest struct {
	Payer, RequestID string
	Fingerprint      []byte
	Payee, Amount    string
}

// NewQuote is the rule of a quote: the payer and the payee in two currencies, neither of them an
// exchange account, and the payee's amount the payer's at rate, rounded toward zero to the
// payee currency's minor unit (money.Convert), so the payee never gets more than the exact value.
func NewQuote(r QuoteRequest, from, to money.Currency, rate Rate, now time.Time, ttl time.Duration) (Quote, error) {
	if from.Code == to.Code {
		return Quote{}, fmt.Errorf("%w: %s and %s are both in %s; send a transfer without a quote", ErrNotExchange, r.Payer, r.Payee, from.Code)
	}
	for _, a := range []string{r.Payer, r.Payee} {
		if a == contract.ExchangeAccount(from.Code) || a == contract.ExchangeAccount(to.Code) {
			return Quote{}, fmt.Errorf("%w: %s is an exchange account, the bank's own leg of every exchange", ErrNotExchange, a)
		}
	}
	n, err := money.Parse(r.Amount, from)
	if err != nil {
		return Quote{}, fmt.Errorf("%w: %w", ErrInvalidAmount, err)
	}
	mr, err := money.ParseRate(rate.Rate)
	if err != nil {
		return Quote{}, fmt.Errorf("rate %s of %s/%s: %w", rate.RequestID, rate.Base, rate.Quote, err)
	}
	out, err := money.Convert(n, from, to, mr)
	if err != nil {
		return Quote{}, fmt.Errorf("%w: %w", ErrInvalidAmount, err)
	}
	return Quote{Payer: r.Payer, RequestID: r.RequestID, Fingerprint: r.Fingerprint, Payee: r.Payee,
		FromCurrency: from.Code, FromMinor: n, ToCurrency: to.Code, ToMinor: out, Rate: rate.Rate, RateID: rate.RequestID,
		CreatedAt: now, ExpiresAt: now.Add(ttl)}, nil
}

// Exchange is what the legs of a cross-currency transfer carry into their events: the quote,
// its rate and both amounts, canonical.
type Exchange struct {
	Quote        string
	Rate         string
	FromAmount   string
	FromCurrency string
	ToAmount     string
	ToCurrency   string
}

// ExchangeRequest asks to pay from Payer with the quote Payer named QuoteRequestID. To and Amount
// may be left out; given, they must be the quote's.
type ExchangeRequest struct {
	Payer, RequestID string
	Fingerprint      []byte
	QuoteRequestID   string
	To, Amount       string
	Description      string
}

// NewExchange is the rule of a cross-currency transfer with quote q at now: the quote unused, not
// expired, and for this payee and amount. It returns the payment to log, four legs through the
// bank's exchange accounts so that each currency's debits equal its credits (TigerBeetle's
// currency-exchange recipe): the payer pays the exchange account of its currency, and the
// exchange account of the payee's currency pays the payee.
func NewExchange(q Quote, r ExchangeRequest, now time.Time) (Payment, error) {
	from, err := money.LookupCurrency(q.FromCurrency)
	if err != nil {
		return Payment{}, err
	}
	to, err := money.LookupCurrency(q.ToCurrency)
	if err != nil {
		return Payment{}, err
	}
	switch {
	case q.UsedBy != "":
		return Payment{}, fmt.Errorf("%w: quote %s of %s was used by transfer %s; ask for a new quote", ErrQuoteUsed, q.RequestID, q.Payer, q.UsedBy)
	case !now.Before(q.ExpiresAt):
		return Payment{}, fmt.Errorf("%w: quote %s of %s expired at %s; ask for a new quote", ErrQuoteExpired, q.RequestID, q.Payer, q.ExpiresAt.UTC().Format(time.RFC3339))
	case r.To != "" && r.To != q.Payee:
		return Payment{}, fmt.Errorf("%w: quote %s is for paying %s, not %s", ErrQuoteMismatch, q.RequestID, q.Payee, r.To)
	}
	if r.Amount != "" {
		if n, err := money.Parse(r.Amount, from); err != nil || n != q.FromMinor {
			return Payment{}, fmt.Errorf("%w: quote %s is for %s %s, not %s; leave the amount out or send the quote's", ErrQuoteMismatch,
				q.RequestID, money.Format(q.FromMinor, from), from.Code, r.Amount)
		}
	}
	fromAmount, toAmount := money.Format(q.FromMinor, from), money.Format(q.ToMinor, to)
	fxFrom, fxTo := contract.ExchangeAccount(from.Code), contract.ExchangeAccount(to.Code)
	p := Payment{Payer: q.Payer, RequestID: r.RequestID, Fingerprint: r.Fingerprint, Description: r.Description, State: contract.TransferPreparing,
		Currency: from.Code, AmountMinor: q.FromMinor,
		Exchange: &Exchange{Quote: q.ID, Rate: q.Rate, FromAmount: fromAmount, FromCurrency: from.Code, ToAmount: toAmount, ToCurrency: to.Code},
		Legs: []PaymentLeg{
			{Name: contract.PaymentLegName(contract.SideDebit, 1), Account: q.Payer, Side: contract.SideDebit, Currency: from.Code, Amount: fromAmount, AmountMinor: q.FromMinor, Counterparty: q.Payee},
			{Name: contract.PaymentLegName(contract.SideCredit, 2), Account: fxFrom, Side: contract.SideCredit, Currency: from.Code, Amount: fromAmount, AmountMinor: q.FromMinor, Counterparty: q.Payer},
			{Name: contract.PaymentLegName(contract.SideDebit, 3), Account: fxTo, Side: contract.SideDebit, Currency: to.Code, Amount: toAmount, AmountMinor: q.ToMinor, Counterparty: q.Payee},
			{Name: contract.PaymentLegName(contract.SideCredit, 4), Account: q.Payee, Side: contract.SideCredit, Currency: to.Code, Amount: toAmount, AmountMinor: q.ToMinor, Counterparty: q.Payer},
		}}
	if err := balanced(p.Legs); err != nil {
		return Payment{}, err // cannot happen with the legs above; the rule is checked all the same
	}
	return p, nil
}

// ExchangeStore is the coordinator's log of rates, quotes and cross-currency transfers.
type ExchangeStore interface {
	// SetRate records r, or returns the rate already set with its request id (ErrConflict if
	// the fingerprints differ).
	SetRate(ctx context.Context, r Rate) (Rate, error)
	// RateInForce is the newest rate of base in quote valid at at; ErrRateNotFound if none.
	RateInForce(ctx context.Context, base, quote string, at time.Time) (Rate, error)
	// Rates lists the rate in force at at of every pair (or of base and quote, when given), or
	// with history every rate ever set, newest valid_from first.
	Rates(ctx context.Context, base, quote string, history bool, at time.Time) ([]Rate, error)
	// SaveQuote records q, or returns the quote the payer already has by that request id
	// (ErrConflict if the fingerprints differ).
	SaveQuote(ctx context.Context, q Quote) (Quote, error)
	// QuoteByRequest returns the quote payer named requestID; ErrUnknownQuote if none.
	QuoteByRequest(ctx context.Context, payer, requestID string) (Quote, error)
	// LogExchange logs a cross-currency transfer in one transaction: a retry (the payer's
	// request id logged already) returns that payment and created=false (ErrConflict if the
	// fingerprints differ, or if the id names a transfer); otherwise it locks the quote the payer
	// named quoteRequestID (ErrUnknownQuote if none), calls build with it, logs the payment build
	// returns and marks the quote used by it, or returns build's error with nothing logged.
	LogExchange(ctx context.Context, r ExchangeRequest, build func(Quote) (Payment, error)) (_ Payment, created bool, err error)
	// ExchangeByRequest returns the cross-currency transfer payer made with requestID.
	ExchangeByRequest(ctx context.Context, payer, requestID string) (Payment, error)
}

// SetRate records a rate (NewRate's rule).
func (c *Coordinator) SetRate(ctx context.Context, r Rate) (Rate, error) {
	return c.Store.SetRate(ctx, r)
}

// Rates lists the rates in force now, or every rate ever set.
func (c *Coordinator) Rates(ctx context.Context, base, quote string, history bool) ([]Rate, error) {
	return c.Store.Rates(ctx, base, quote, history, c.Now())
}

// Quote fixes, for QuoteTTL, the rate in force now between the payer's currency and the payee's,
// and both amounts. A retry of an earlier request returns that quote, expired or not. The
// payer, the payee and both exchange accounts must exist.
func (c *Coordinator) Quote(ctx context.Context, r QuoteRequest) (Quote, error) {
	if q, err := c.Store.QuoteByRequest(ctx, r.Payer, r.RequestID); err == nil {
		if string(q.Fingerprint) != string(r.Fingerprint) {
			return q, fmt.Errorf("%w: quote id %q of %s", ErrConflict, r.RequestID, r.Payer)
		}
		return q, nil
	} else if !errors.Is(err, ErrUnknownQuote) {
		return q, err
	}
	cctx, cancel := context.WithTimeout(ctx, c.PrepareTimeout)
	defer cancel()
	cur, err := c.currencies(cctx, r.Payer, r.Payee)
	if err != nil {
		return Quote{}, err
	}
	if cur[0].Code == cur[1].Code {
		return Quote{}, fmt.Errorf("%w: %s and %s are both in %s; send a transfer without a quote", ErrNotExchange, r.Payer, r.Payee, cur[0].Code)
	}
	if _, err := c.currencies(cctx, contract.ExchangeAccount(cur[0].Code), contract.ExchangeAccount(cur[1].Code)); err != nil {
		return Quote{}, fmt.Errorf("%w (the bank's exchange accounts)", err)
	}
	now := c.Now()
	rate, err := c.Store.RateInForce(ctx, cur[0].Code, cur[1].Code, now)
	if err != nil {
		return Quote{}, err
	}
	q, err := NewQuote(r, cur[0], cur[1], rate, now, c.QuoteTTL)
	if err != nil {
		return Quote{}, err
	}
	q.ID = c.NewID()
	return c.Store.SaveQuote(ctx, q)
}

// currencies asks the currencies of accounts all at once; a missing account is ErrAccountNotFound.
func (c *Coordinator) currencies(ctx context.Context, accounts ...string) ([]money.Currency, error) {
	out := make([]money.Currency, len(accounts))
	errs := make([]error, len(accounts))
	var wg sync.WaitGroup
	for i, a := range accounts {
		wg.Go(func() { out[i], errs[i] = c.Legs.Currency(ctx, a) })
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case errors.Is(err, ErrAccountNotFound):
			return nil, fmt.Errorf("%w: %s does not exist", ErrAccountNotFound, accounts[i])
		case err != nil:
			return nil, fmt.Errorf("%w: %s: %w", ErrCurrencyUnknown, accounts[i], err)
		}
	}
	return out, nil
}

// Exchange logs a cross-currency transfer with its quote (NewExchange's rule, checked in the
// transaction that logs it and marks the quote used, so two transfers cannot use one quote) and
// runs its four legs through the payments' two-phase commit. A retry of an earlier request
// returns that request's outcome, even once the quote has expired.
func (c *Coordinator) Exchange(ctx context.Context, r ExchangeRequest) (Payment, error) {
	start := c.Now()
	id := c.NewID()
	rec, created, err := c.Store.LogExchange(ctx, r, func(q Quote) (Payment, error) {
		p, err := NewExchange(q, r, c.Now())
		p.ID = id
		return p, err
	})
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

// ExchangeStatus returns the cross-currency transfer payer made with request id requestID.
func (c *Coordinator) ExchangeStatus(ctx context.Context, payer, requestID string) (Payment, error) {
	return c.Store.ExchangeByRequest(ctx, payer, requestID)
}

package transfer

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"tsbank/contract/money"
)

// MaxPaymentLegs is how many accounts one payment may move money among (contract.MaxPaymentLegs).
const MaxPaymentLegs = 16

// ErrInvalidPayment refuses a payment request that no participant could accept whatever its
// accounts' state: too few or too many legs, an account twice, a side that is neither debit nor
// credit, debits and credits that do not balance, accounts in more than one currency, an amount
// the currency cannot hold. Like a transfer's, such a request is refused before anything is
// logged, so its id stays unused.
var ErrInvalidPayment = errors.New("invalid payment")

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
	Side    string // Debit or Credit
}

// Payment is one payment of the coordinator's log: one decision for all its legs.
type Payment struct {
	ID          string
	RequestID   string
	Fingerprint []byte
	Description string
	Currency    string
	AmountMinor int64 // the sum of the debits, which is the sum of the credits
	Legs        []PaymentLeg
	State       string
	Outcome     string
	Reason      string
	Message     string
	Resends     int
	CreatedAt   time.Time
	DecidedAt   *time.Time
}

// PaymentLeg is one account's leg of a payment, its vote and whether it acknowledged the decision.
type PaymentLeg struct {
	Name        string // the leg's name on its node: "debit.N" or "credit.N", N its place from 1
	Account     string
	Side        string
	Amount      string // canonical, in the payment's currency
	AmountMinor int64
	Vote        string // yes or no:<reason>; empty until it votes
	Acked       bool
}

// Counterparty is what a leg's event names as the other side: the one account on the other side
// if there is exactly one (a payroll's payer, a bill split's payee), else "" (no single account
// paid or was paid by this one).
func (p Payment) Counterparty(leg PaymentLeg) string {
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
	if n := len(r.Legs); n < 2 || n > MaxPaymentLegs {
		return Payment{}, fmt.Errorf("%w: a payment has 2 to %d legs, not %d", ErrInvalidPayment, MaxPaymentLegs, n)
	}
	p := Payment{RequestID: r.RequestID, Fingerprint: r.Fingerprint, Description: r.Description, State: Preparing}
	seen := map[string]bool{}
	var cur money.Currency
	var debits, credits int64
	for i, l := range r.Legs {
		if l.Side != Debit && l.Side != Credit {
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
			return Payment{}, fmt.Errorf("leg %d (%s): %w", i+1, l.Account, err)
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
		if l.Side == Debit {
			debits += n
		} else {
			credits += n
		}
		p.Legs = append(p.Legs, PaymentLeg{Name: l.Side + "." + strconv.Itoa(i+1), Account: l.Account, Side: l.Side,
			Amount: money.Format(n, c), AmountMinor: n})
	}
	switch {
	case debits == 0 || credits == 0:
		return Payment{}, fmt.Errorf("%w: a payment needs at least one debit and one credit", ErrInvalidPayment)
	case debits != credits:
		return Payment{}, fmt.Errorf("%w: the debits sum to %s %s and the credits to %s %s; they must be equal", ErrInvalidPayment,
			money.Format(debits, cur), cur.Code, money.Format(credits, cur), cur.Code)
	case debits > money.MaxMinor:
		return Payment{}, fmt.Errorf("%w: the payment moves more than %s %s", ErrInvalidPayment, money.Format(money.MaxMinor, cur), cur.Code)
	}
	p.Currency, p.AmountMinor = cur.Code, debits
	return p, nil
}

// PaymentDecision is the coordinator's decision on a payment and each leg's vote, in leg order.
type PaymentDecision struct {
	Outcome string
	Reason  string
	Message string
	Votes   []string
}

// DecidePayment turns the legs' votes (in leg order) into one decision: commit only if every leg
// said yes, in the payment's currency, for its own amount; otherwise abort with the reason of the
// first leg, in the request's order, that refused (so the same votes always give the same reason).
func DecidePayment(p Payment, votes []Vote) PaymentDecision {
	d := PaymentDecision{Outcome: Committed, Votes: make([]string, len(votes))}
	for i, v := range votes {
		d.Votes[i] = v.String()
	}
	for i, v := range votes {
		leg := p.Legs[i]
		switch {
		case !v.Yes:
			d.Reason, d.Message = v.Reason, v.Message
		case v.Currency != p.Currency:
			d.Reason = ReasonCurrencyMismatch
			d.Message = fmt.Sprintf("account %s is in %s and the payment in %s", leg.Account, v.Currency, p.Currency)
		case v.AmountMinor != leg.AmountMinor:
			d.Reason, d.Message = "internal", fmt.Sprintf("account %s's leg disagrees on its amount", leg.Account)
		default:
			continue
		}
		d.Outcome = Aborted
		if d.Message == "" {
			d.Message = fmt.Sprintf("leg %s (%s) refused", leg.Name, leg.Account)
		}
		return d
	}
	return d
}

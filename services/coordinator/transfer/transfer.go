// Package transfer is the coordinator's two-phase commit: the log record of a transfer, the rule
// that turns two votes into a decision, and the use cases that drive a transfer from request to
// acknowledged decision, recover it after a crash, and answer participants that ask. It uses the
// standard library and the bank's contract only, for its names of legs, states and reason codes
// and its money type (contract/money): whether an amount fits a currency is a rule it checks
// before logging a transfer.
package transfer

import (
	"context"
	"errors"
	"time"

	"tsbank/contract"
)

// Done is the state of a transfer (or payment) in the log once it is decided and every leg has
// acknowledged the decision. The other states are contract's (contract.TransferPreparing,
// contract.TransferCommitted, contract.TransferAborted): a participant's question is answered with
// them, while done is the log's own bookkeeping.
const Done = contract.TransferDone

var (
	ErrConflict = errors.New("request id reused with a different transfer")
	ErrNotFound = errors.New("no such transfer")
)

// Refusals of a transfer request that no participant could accept whatever its accounts' state.
// The coordinator returns them before it logs anything, so the request id stays unused.
var (
	ErrAccountNotFound  = errors.New("no such account")
	ErrCurrencyMismatch = errors.New("the accounts have different currencies")
	ErrInvalidAmount    = errors.New("invalid amount") // wraps the *money.ParseError
	// ErrNotRefundable refuses a refund of a transfer that is not committed, is itself a refund,
	// or was not paid to the account asking.
	ErrNotRefundable = errors.New("transfer cannot be refunded")
	// ErrRefundExceeds refuses a refund larger than what is left of the original.
	ErrRefundExceeds = errors.New("refund exceeds what is left of the transfer")
)

// Transfer is one row of the coordinator's log.
type Transfer struct {
	ID          string // the coordinator's transfer id, on both legs
	From        string
	RequestID   string // the client's idempotency key, unique per paying account
	Fingerprint []byte
	To          string
	Amount      string // as the client sent it; each participant parses it in its currency
	Description string
	RefundOf    string // the transfer this one refunds, for a refund; "" otherwise
	Refunded    int64  // of an original, the sum of its committed refunds (minor units); read, not stored
	// Exchange is, for the legs of a cross-currency transfer (a payment's, see legTransfer),
	// what their prepares carry; transfers of the log have none.
	Exchange    *Exchange
	Currency    string // learned from the yes votes
	AmountMinor int64
	State       contract.TransferState
	Outcome     contract.TransferState // committed or aborted once decided
	Reason      contract.Code
	Message     string
	DebitVote   string
	CreditVote  string
	DebitAcked  bool
	CreditAcked bool
	Resends     int
	CreatedAt   time.Time
	DecidedAt   *time.Time
}

// Vote is a leg's answer to prepare, or what stood for it (a timeout, no node).
type Vote struct {
	Yes         bool
	Currency    string
	AmountMinor int64
	Reason      contract.Code // a code, when not Yes
	Message     string
}

// String is the vote as the log records it: "yes" or "no:<reason>".
func (v Vote) String() string {
	if v.Yes {
		return "yes"
	}
	return "no:" + string(v.Reason)
}

// Decision is what the coordinator decided, and the votes it decided on.
type Decision struct {
	Outcome     contract.TransferState
	Reason      contract.Code
	Message     string
	Currency    string
	AmountMinor int64
	DebitVote   string
	CreditVote  string
}

// Decide turns the two votes into a decision: commit only if both legs said yes for the same
// currency and amount; otherwise abort, giving the paying leg's reason first, since that is the
// one a customer can act on.
func Decide(debit, credit Vote) Decision {
	d := Decision{Outcome: contract.TransferAborted, DebitVote: debit.String(), CreditVote: credit.String()}
	switch {
	case !debit.Yes:
		d.Reason, d.Message = debit.Reason, debit.Message
	case !credit.Yes:
		d.Reason, d.Message = credit.Reason, credit.Message
	case debit.Currency != credit.Currency:
		d.Reason = contract.CodeCurrencyMismatch
		d.Message = "the paying account is in " + debit.Currency + " and the receiving account in " + credit.Currency
	case debit.AmountMinor != credit.AmountMinor:
		// Same currency, so the same string parses to the same amount: a participant fault.
		d.Reason, d.Message = contract.CodeInternal, "the legs disagree on the amount"
	default:
		d.Outcome, d.Currency, d.AmountMinor = contract.TransferCommitted, debit.Currency, debit.AmountMinor
	}
	return d
}

// Store is the coordinator's log, of transfers, payments, rates and quotes.
type Store interface {
	PaymentStore
	ExchangeStore
	// Begin records t as preparing. If the paying account already has a transfer with t's
	// request id, it returns that one and created=false (ErrConflict if the fingerprints differ).
	Begin(ctx context.Context, t Transfer) (_ Transfer, created bool, err error)
	// LogRefund records a refund as preparing, in one transaction that locks the original (of)
	// against concurrent refunds: if the asking account (r.From) already has a
	// transfer with r's request id it returns that one and created=false (ErrConflict if the
	// fingerprints differ); otherwise it calls build with the original and the sum of its
	// refunds that are not aborted (preparing ones count: they may commit), and inserts what
	// build returns, or returns build's error with nothing logged. ErrNotFound if there is no
	// original.
	LogRefund(ctx context.Context, r Transfer, of Original, build func(original Transfer, refunded int64) (Transfer, error)) (_ Transfer, created bool, err error)
	// Refunded is the sum of the committed refunds of transfer id, in minor units.
	Refunded(ctx context.Context, id string) (int64, error)
	// Decide records d for transfer id if it is still preparing, and returns the transfer as
	// decided, by this call or an earlier one.
	Decide(ctx context.Context, id string, d Decision) (Transfer, error)
	// Acked records the legs that acknowledged the decision; with both, the transfer is done.
	// Otherwise the next re-send is due after backoff. It may return before the record is
	// durable, and the record may be lost in a crash: it is bookkeeping, not part of the protocol.
	// Without it the transfer stays decided and not done, so the decision is re-sent, and a leg
	// that has applied it already acknowledges again and changes nothing.
	Acked(ctx context.Context, id string, debit, credit bool, backoff time.Duration) error
	Get(ctx context.Context, id string) (Transfer, error)
	ByRequest(ctx context.Context, from, requestID string) (Transfer, error)
	// Stuck lists up to limit transfers still preparing and created before before.
	Stuck(ctx context.Context, before time.Time, limit int) ([]Transfer, error)
	// ClaimResends returns up to limit decided, unacknowledged transfers whose re-send is due, and
	// pushes their next attempt back by lease, so other instances leave them alone meanwhile.
	ClaimResends(ctx context.Context, limit int, lease time.Duration) ([]Transfer, error)
	// Pending lists transfers not done, oldest first.
	Pending(ctx context.Context, limit int) ([]Transfer, error)
}

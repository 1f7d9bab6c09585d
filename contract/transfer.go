package contract

import (
	"strconv"
	"strings"
	"time"
)

// Side is a leg's side: money out of its account (a debit) or into it (a credit).
type Side string

// The two sides.
const (
	SideDebit  Side = "debit"
	SideCredit Side = "credit"
)

// Legs of a transfer, each named by its side: the paying account's debit and the receiving
// account's credit. A payment's legs are named by their side and place (PaymentLegName).
const (
	LegDebit  = string(SideDebit)
	LegCredit = string(SideCredit)
)

// HoldState is the state of a leg on its node: prepared (undecided), then committed or aborted.
type HoldState string

// The states of a leg.
const (
	HoldPrepared  HoldState = "prepared"
	HoldCommitted HoldState = "committed"
	HoldAborted   HoldState = "aborted"
)

// ReasonAbortedBeforePrepare is the reason a node records for a leg whose abort came before its
// prepare, so that the prepare, if it comes later, is refused.
const ReasonAbortedBeforePrepare = "aborted_before_prepare"

// MaxPaymentLegs is how many accounts one payment may move money among.
const MaxPaymentLegs = 16

// PaymentLegName names leg i (1 to MaxPaymentLegs, its place in the payment's request) of a payment on
// side (LegDebit or LegCredit): "debit.3", "credit.7". A node keys a hold by transfer id and leg,
// so a payment's legs need names distinct within the payment; the side in the name is what tells
// the node whether to reserve money or expect it, as "debit" and "credit" do for a transfer.
func PaymentLegName(side Side, i int) string { return string(side) + "." + strconv.Itoa(i) }

// LegSide returns the side of leg ("debit" or "credit") for a transfer's leg ("debit", "credit")
// or a payment's ("debit.N", "credit.N" with N from 1 to MaxPaymentLegs, no leading zero, so that
// one leg has one name); ok is false for any other name.
func LegSide(leg string) (Side, bool) {
	name, n, indexed := strings.Cut(leg, ".")
	side := Side(name)
	if side != SideDebit && side != SideCredit {
		return "", false
	}
	if !indexed {
		return side, true
	}
	i, err := strconv.Atoi(n)
	if err != nil || i < 1 || i > MaxPaymentLegs || strconv.Itoa(i) != n {
		return "", false
	}
	return side, true
}

// TransferState is the state of a transfer (or a payment) in the coordinator's log and in replies.
type TransferState string

// The states of a transfer. Done is the log's own: decided, and every leg acknowledged.
const (
	TransferPreparing TransferState = "preparing" // no decision yet: a restarted coordinator aborts it
	TransferCommitted TransferState = "committed"
	TransferAborted   TransferState = "aborted"
	TransferDone      TransferState = "done"
)

// TransferRequest asks to pay Amount from the account in the subject to To. ID is the
// idempotency key, scoped to the paying account. Quote, the payer's id of a quote, makes it a
// cross-currency transfer at the quote's rate: Amount may then be left out, or must be the
// quote's, and To must be the quote's.
type TransferRequest struct {
	ID          string `json:"id"`
	To          string `json:"to"`
	Amount      string `json:"amount,omitempty"`
	Description string `json:"description,omitempty"`
	Quote       string `json:"quote,omitempty"`
}

// RefundRequest asks to pay back, from the account in the subject (the payee of the original),
// some or all of a committed transfer, named by exactly one of TransferID (the coordinator's id)
// or Original (its payer and the payer's request id). ID is the idempotency key, scoped to the
// refunding account like a transfer's; Amount defaults to what is left of the original.
type RefundRequest struct {
	ID          string       `json:"id"`
	TransferID  string       `json:"transfer_id,omitempty"`
	Original    *TransferRef `json:"original,omitempty"`
	Amount      string       `json:"amount,omitempty"`
	Description string       `json:"description,omitempty"`
}

// TransferRef names a transfer as its payer does: the paying account and its request id.
type TransferRef struct {
	From string `json:"from"`
	ID   string `json:"id"`
}

// TransferStatusRequest asks for the transfer with request id ID from the account in the subject.
type TransferStatusRequest struct {
	ID string `json:"id"`
}

// Transfer is a transfer's outcome or current state. Reason (a code) and Message say why it was
// aborted. Done is true once both legs have acknowledged the decision.
type Transfer struct {
	ID         string        `json:"id"`          // the client's request id
	TransferID string        `json:"transfer_id"` // the coordinator's id, on both legs' events
	From       string        `json:"from"`
	To         string        `json:"to"`
	Amount     string        `json:"amount"`
	Currency   string        `json:"currency,omitempty"`
	Status     TransferState `json:"status"` // preparing, committed or aborted
	Reason     Code          `json:"reason,omitempty"`
	Message    string        `json:"message,omitempty"`
	Done       bool          `json:"done"`
	RefundOf   string        `json:"refund_of,omitempty"` // of a refund: the original's transfer id
	Refunded   string        `json:"refunded,omitempty"`  // of an original, in a status: the sum of its committed refunds, if any
	Exchange   *Exchange     `json:"exchange,omitempty"`  // of a cross-currency transfer: its quote, rate and both amounts
	CreatedAt  time.Time     `json:"created_at"`
	DecidedAt  *time.Time    `json:"decided_at,omitempty"`
}

// PrepareRequest asks a participant to hold its leg of a transfer. Sig is the coordinator's
// signature over every field and the account in the subject (package decisionsig); a node refuses
// a prepare without a valid one.
type PrepareRequest struct {
	TransferID   string    `json:"transfer_id"`
	Leg          string    `json:"leg"`
	Amount       string    `json:"amount"`
	Counterparty string    `json:"counterparty"`
	Description  string    `json:"description,omitempty"`
	RefundOf     string    `json:"refund_of,omitempty"` // the transfer this one refunds, for a refund
	Exchange     *Exchange `json:"exchange,omitempty"`  // of a cross-currency transfer's leg
	Sig          string    `json:"sig,omitempty"`
}

// Vote is a participant's answer to a prepare. A yes carries the account's currency and the amount
// in its minor units; a no carries a reason code and a message.
type Vote struct {
	TransferID  string `json:"transfer_id"`
	Leg         string `json:"leg"`
	Yes         bool   `json:"yes"`
	Currency    string `json:"currency,omitempty"`
	AmountMinor int64  `json:"amount_minor,omitempty"`
	Reason      Code   `json:"reason,omitempty"`
	Message     string `json:"message,omitempty"`
}

// LegRequest carries a decision (commit or abort, by subject) to one leg. Sig is the
// coordinator's signature over the operation, the transfer, the leg and the account in the subject.
type LegRequest struct {
	TransferID string `json:"transfer_id"`
	Leg        string `json:"leg"`
	Sig        string `json:"sig,omitempty"`
}

// LegState is a participant's acknowledgement: the state of its leg after the request.
type LegState struct {
	TransferID string    `json:"transfer_id"`
	Leg        string    `json:"leg"`
	State      HoldState `json:"state"` // prepared, committed or aborted
}

// DecisionRequest asks the coordinator for the outcome of a transfer. Leg and Account name the leg
// the node holds; the answer's signature covers them, so that it answers this question only.
type DecisionRequest struct {
	TransferID string `json:"transfer_id"`
	Leg        string `json:"leg,omitempty"`
	Account    string `json:"account,omitempty"`
}

// Decision is the coordinator's answer: committed, aborted or preparing (ask again later). Sig is
// its signature over the outcome, the transfer and the leg and account of the question.
type Decision struct {
	TransferID string        `json:"transfer_id"`
	Outcome    TransferState `json:"outcome"`
	Sig        string        `json:"sig,omitempty"`
}

// PendingList lists transfers without a decision (in flight) and decided transfers whose decision
// a leg has not acknowledged yet (in doubt for that leg).
type PendingList struct {
	InFlight []Transfer `json:"in_flight"`
	InDoubt  []Transfer `json:"in_doubt"`
	// Payments not done: undecided, or decided with a leg not acknowledged (its legs say which).
	Payments []Payment `json:"payments,omitempty"`
}

// ResolveRequest drives one transfer to its outcome now: abort if undecided, re-send the decision
// otherwise. It never changes a decision.
type ResolveRequest struct {
	TransferID string `json:"transfer_id"`
}

// LegBatch carries many two-phase-commit steps, for accounts of one node, in one message
// (docs/adr/0024): the node applies them in one database transaction and answers each. Sig is the
// coordinator's signature over every step in order (decisionsig.Batch).
type LegBatch struct {
	Steps []LegStep `json:"steps"`
	Sig   string    `json:"sig,omitempty"`
}

// MaxLegBatch is the most steps a LegBatch may carry.
const MaxLegBatch = 256

// LegStep is one prepare, commit or abort (Op) of a leg of Account. Amount, Counterparty,
// Description, RefundOf and Exchange belong to a prepare.
type LegStep struct {
	Op           string    `json:"op"`
	Account      string    `json:"account"`
	TransferID   string    `json:"transfer_id"`
	Leg          string    `json:"leg"`
	Amount       string    `json:"amount,omitempty"`
	Counterparty string    `json:"counterparty,omitempty"`
	Description  string    `json:"description,omitempty"`
	RefundOf     string    `json:"refund_of,omitempty"`
	Exchange     *Exchange `json:"exchange,omitempty"`
	// Trace is the trace context of the coordinator's span for this step (W3C traceparent and
	// tracestate): a batch carries many transfers, each in its own trace, so the message's
	// headers cannot name them all (docs/adr/0039). It is not signed: it decides nothing.
	Trace map[string]string `json:"trace,omitempty"`
}

// LegBatchReply answers a LegBatch: one result per step, in the same order.
type LegBatchReply struct {
	Results []LegResult `json:"results"`
}

// LegResult is one step's answer: the vote of a prepare, the state of a decided leg, or the error
// of this step alone.
type LegResult struct {
	Vote  *Vote     `json:"vote,omitempty"`
	State *LegState `json:"state,omitempty"`
	Error *Error    `json:"error,omitempty"`
}

// PaymentRequest asks to move money among 2 to MaxPaymentLegs distinct accounts in one all-or-
// nothing operation: the debits and the credits each sum to the same amount, in one currency. ID
// is the idempotency key, one per payment whatever its accounts.
type PaymentRequest struct {
	ID          string           `json:"id"`
	Legs        []PaymentLegSpec `json:"legs"`
	Description string           `json:"description,omitempty"`
}

// PaymentLegSpec is one account's part in a payment request: Side is LegDebit or LegCredit.
type PaymentLegSpec struct {
	Account string `json:"account"`
	Amount  string `json:"amount"`
	Side    Side   `json:"side"`
}

// PaymentStatusRequest asks for the payment with request id ID.
type PaymentStatusRequest struct {
	ID string `json:"id"`
}

// Payment is a payment's outcome or current state: one status for all its legs. Reason and
// Message are the first refusing leg's, when it aborted. Done is true once every leg has
// acknowledged the decision.
type Payment struct {
	ID          string        `json:"id"`         // the client's request id
	PaymentID   string        `json:"payment_id"` // the coordinator's id: the transfer_id of every leg's event
	Amount      string        `json:"amount"`     // the sum of the debits
	Currency    string        `json:"currency"`
	Description string        `json:"description,omitempty"`
	Status      TransferState `json:"status"` // preparing, committed or aborted
	Reason      Code          `json:"reason,omitempty"`
	Message     string        `json:"message,omitempty"`
	Done        bool          `json:"done"`
	Legs        []PaymentLeg  `json:"legs"`
	CreatedAt   time.Time     `json:"created_at"`
	DecidedAt   *time.Time    `json:"decided_at,omitempty"`
}

// PaymentLeg is one leg of a payment as logged: its name on its node ("debit.1"), and its vote
// (yes, or no:<reason>; empty before it votes).
type PaymentLeg struct {
	Leg     string `json:"leg"`
	Account string `json:"account"`
	Side    Side   `json:"side"`
	Amount  string `json:"amount"`
	Vote    string `json:"vote,omitempty"`
	Acked   bool   `json:"acked"`
}

package contract

import (
	"errors"
	"fmt"
)

// Code is an error's stable name: clients switch on it, people read the message. A refused leg's
// vote and an aborted transfer carry one as their reason.
type Code string

// Error codes. The set is small and stable.
const (
	CodeBadRequest       Code = "bad_request"       // malformed JSON, unknown or missing fields
	CodePayloadTooLarge  Code = "payload_too_large" // body over MaxPayload
	CodeInvalidID        Code = "invalid_id"        // an id with bad characters or over 64 bytes
	CodeInvalidAmount    Code = "invalid_amount"    // not a positive decimal with the currency's decimals
	CodeInvalidCurrency  Code = "invalid_currency"  // not a known ISO 4217 code
	CodeAccountNotFound  Code = "account_not_found" // no such account
	CodeAccountExists    Code = "account_exists"    // the account id is taken
	CodeAccountClosed    Code = "account_closed"    // the account is closed
	CodeAccountNotEmpty  Code = "account_not_empty" // close refused: balance or holds not zero
	CodeInsufficient     Code = "insufficient_funds"
	CodeConflict         Code = "conflict"           // request id reused with a different body
	CodeSameAccount      Code = "same_account"       // a transfer to the paying account itself
	CodeCurrencyMismatch Code = "currency_mismatch"  // a transfer between accounts of different currencies
	CodeUnknownTransfer  Code = "unknown_transfer"   // no transfer with that id
	CodeNotRefundable    Code = "not_refundable"     // a refund of a transfer not committed, itself a refund, or not paid to the asking account
	CodeRefundExceeds    Code = "refund_exceeds"     // a refund above what is left of the transfer's amount
	CodeInvalidPayment   Code = "invalid_payment"    // a payment's legs: not 2 to 16, an account twice, unbalanced, or no debit or no credit
	CodeUnknownPayment   Code = "unknown_payment"    // no payment with that id
	CodeInvalidRate      Code = "invalid_rate"       // a rate that is not a positive decimal within bounds, or a pair of one currency
	CodeRateNotFound     Code = "rate_not_found"     // no rate of the pair is in force
	CodeUnknownQuote     Code = "unknown_quote"      // no quote with that id for the paying account
	CodeQuoteExpired     Code = "quote_expired"      // the quote's time ran out before a transfer used it
	CodeQuoteUsed        Code = "quote_used"         // another transfer used the quote already
	CodeQuoteMismatch    Code = "quote_mismatch"     // a transfer whose "to" or amount is not its quote's
	CodeInvalidCursor    Code = "invalid_cursor"     // a forged cursor, or one from another query
	CodeNodeUnavailable  Code = "node_unavailable"   // the owning node does not answer
	CodeAccountMoving    Code = "account_moving"     // the account is moving to another node: retry in a moment with the same id
	CodeAccountMoved     Code = "account_moved"      // the account left the node asked: ask its new owner (routing does)
	CodeMoveConflict     Code = "move_conflict"      // the account is in another move, or not where the move says
	CodeUnknownMove      Code = "unknown_move"       // no move with that id
	CodeNodeNotFound     Code = "node_not_found"     // no account node of that name has ever run
	CodeForbidden        Code = "forbidden"          // not allowed: e.g. a two-phase-commit message without the coordinator's signature
	CodeTimeout          Code = "timeout"            // no answer in time; retry with the same id to learn the outcome
	CodeOutcomeUnknown   Code = "outcome_unknown"    // the service cannot tell whether it was done (its database failed mid-way); ask the status with the same id
	CodeInternal         Code = "internal"           // a fault on our side; safe to retry with the same id
	CodeCustomerNotFound Code = "customer_not_found" // no such customer
	CodeCustomerExists   Code = "customer_exists"    // the customer id is taken
	CodeAccountOwned     Code = "account_owned"      // the account belongs to another customer
)

// Header names of the micro package's service errors.
const (
	ErrorCodeHeader = "Nats-Service-Error-Code"
	ErrorHeader     = "Nats-Service-Error"
)

// Error is an error reply: a stable code and a message that says what to send instead.
// It is sent in the micro error headers and, so that `nats req` shows it, as the JSON body
// {"error":{"code":...,"message":...}}.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf builds an *Error.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorBody is the JSON body of an error reply.
type ErrorBody struct {
	Error *Error `json:"error"`
}

// CodeOf returns the code of a contract error anywhere in err's chain, or "".
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

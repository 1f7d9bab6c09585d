package contract

import "time"

// Subjects of exchange rates and quotes (docs/adr/0035).
const (
	SubjectRatesSet = "bank.rates.set" // an operator sets a rate, valid from a time
	SubjectRates    = "bank.rates"     // the rates in force, or every rate ever set
)

// QuoteSubject is where account payer asks for a quote of a cross-currency transfer:
// bank.quote.<payer>.
func QuoteSubject(payer string) string { return "bank.quote." + payer }

// ExchangeAccount is the bank's own exchange account in currency code, through which every
// cross-currency transfer passes: "fx-EUR".
func ExchangeAccount(code string) string { return "fx-" + code }

// RateSetRequest sets the rate of Base in Quote: Rate units of Quote buy one unit of Base, from
// ValidFrom (RFC 3339; now when left out). ID is the idempotency key; By is the operator's note
// of who set it.
type RateSetRequest struct {
	ID        string `json:"id"`
	Base      string `json:"base"`
	Quote     string `json:"quote"`
	Rate      string `json:"rate"`
	ValidFrom string `json:"valid_from,omitempty"`
	By        string `json:"by,omitempty"`
}

// Rate is one rate as set: every rate ever set is kept.
type Rate struct {
	ID        string    `json:"id"` // the request id that set it
	Base      string    `json:"base"`
	Quote     string    `json:"quote"`
	Rate      string    `json:"rate"` // units of Quote for one unit of Base, exact
	ValidFrom time.Time `json:"valid_from"`
	SetAt     time.Time `json:"set_at"`
	SetBy     string    `json:"set_by,omitempty"`
}

// RatesRequest asks for the rate in force of every pair (or of Base and Quote if given), or, with
// History, every rate ever set, newest valid_from first.
type RatesRequest struct {
	Base    string `json:"base,omitempty"`
	Quote   string `json:"quote,omitempty"`
	History bool   `json:"history,omitempty"`
}

// RateList answers a RatesRequest.
type RateList struct {
	Rates []Rate `json:"rates"`
}

// QuoteRequest asks for a quote of paying Amount (in the payer's currency) from the account in
// the subject to To, an account in another currency. ID is the payer's name for the quote: a
// retry gets the same quote, and the transfer names it.
type QuoteRequest struct {
	ID     string `json:"id"`
	To     string `json:"to"`
	Amount string `json:"amount"`
}

// Quote fixes a rate for a cross-currency transfer until ExpiresAt: FromAmount leaves the payer,
// ToAmount reaches the payee. UsedBy is the transfer that used it, once one has.
type Quote struct {
	ID           string    `json:"id"`       // the payer's name for it
	QuoteID      string    `json:"quote_id"` // the bank's, on the legs' history rows
	From         string    `json:"from"`
	To           string    `json:"to"`
	FromAmount   string    `json:"from_amount"`
	FromCurrency string    `json:"from_currency"`
	ToAmount     string    `json:"to_amount"`
	ToCurrency   string    `json:"to_currency"`
	Rate         string    `json:"rate"`
	ExpiresAt    time.Time `json:"expires_at"`
	UsedBy       string    `json:"used_by,omitempty"`
}

// Exchange is what every leg of a cross-currency transfer carries, into its history row: the
// bank's quote id, the rate, and both amounts.
type Exchange struct {
	Quote        string `json:"quote"`
	Rate         string `json:"rate"`
	FromAmount   string `json:"from_amount"`
	FromCurrency string `json:"from_currency"`
	ToAmount     string `json:"to_amount"`
	ToCurrency   string `json:"to_currency"`
}

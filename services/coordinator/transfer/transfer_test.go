package transfer

import (
	"context"
	"errors"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/contract/money"
)

func TestDecide(t *testing.T) {
	yes := func(cur string, n int64) Vote { return Vote{Yes: true, Currency: cur, AmountMinor: n} }
	no := func(reason contract.Code) Vote { return Vote{Reason: reason, Message: string(reason)} }
	for _, tc := range []struct {
		name          string
		debit, credit Vote
		outcome       contract.TransferState
		reason        contract.Code
	}{
		{"two yes votes commit", yes("EUR", 100), yes("EUR", 100), contract.TransferCommitted, ""},
		{"a debit no aborts with its reason", no(contract.CodeInsufficient), yes("EUR", 100), contract.TransferAborted, contract.CodeInsufficient},
		{"a credit no aborts with its reason", yes("EUR", 100), no(contract.CodeAccountClosed), contract.TransferAborted, contract.CodeAccountClosed},
		{"the debit reason comes first", no(contract.CodeInsufficient), no(contract.CodeTimeout), contract.TransferAborted, contract.CodeInsufficient},
		{"different currencies abort", yes("EUR", 100), yes("USD", 100), contract.TransferAborted, contract.CodeCurrencyMismatch},
		{"different amounts abort", yes("EUR", 100), yes("EUR", 10), contract.TransferAborted, contract.CodeInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.debit, tc.credit)
			if d.Outcome != tc.outcome || d.Reason != tc.reason {
				t.Fatalf("Decide = %s/%s, want %s/%s", d.Outcome, d.Reason, tc.outcome, tc.reason)
			}
			if d.DebitVote != tc.debit.String() || d.CreditVote != tc.credit.String() {
				t.Fatalf("votes recorded as %q, %q", d.DebitVote, d.CreditVote)
			}
		})
	}
}

// fakeAccounts answers Currency from a map; an account missing from it does not exist, and one
// mapped to the zero currency has a node that does not answer.
type fakeAccounts struct {
	Participants
	currencies map[string]money.Currency
}

func (f fakeAccounts) Currency(_ context.Context, account string) (money.Currency, error) {
	c, ok := f.currencies[account]
	switch {
	case !ok:
		return c, ErrAccountNotFound
	case c.Code == "":
		return c, errors.New("node_unavailable: the node of the account is not running")
	}
	return c, nil
}

// beginStore records whether anything was logged, and logs nothing.
type beginStore struct {
	Store
	begun bool
}

var errLogged = errors.New("logged")

func (s *beginStore) Begin(context.Context, Transfer) (Transfer, bool, error) {
	s.begun = true
	return Transfer{}, false, errLogged
}

// TestWhatCannotFitTheAccountsIsRefusedBeforeAnythingIsLogged pins a bug: an amount the currency
// cannot hold, an unknown account and two currencies were logged and aborted, using up the
// request id; they are refused before the log is touched. An account whose node cannot be asked is
// left to its vote: the transfer is logged.
func TestWhatCannotFitTheAccountsIsRefusedBeforeAnythingIsLogged(t *testing.T) {
	eur, _ := money.LookupCurrency("EUR")
	jpy, _ := money.LookupCurrency("JPY")
	accounts := fakeAccounts{currencies: map[string]money.Currency{"alice": eur, "bob": eur, "yen": jpy, "away": {}}}
	for _, tc := range []struct {
		name, from, to, amount string
		want                   error
	}{
		{"more decimals than the currency has", "alice", "bob", "1.005", ErrInvalidAmount},
		{"above the currency's maximum", "alice", "bob", "10000000000000.01", ErrInvalidAmount},
		{"an unknown payee", "alice", "nobody", "1.00", ErrAccountNotFound},
		{"an unknown payer", "nobody", "bob", "1.00", ErrAccountNotFound},
		{"two currencies", "alice", "yen", "1", ErrCurrencyMismatch},
		{"an amount the known currency cannot hold, the other node away", "away", "bob", "1.005", ErrInvalidAmount},
		{"a good request", "alice", "bob", "1.00", errLogged},
		{"a node that cannot be asked", "alice", "away", "1.00", errLogged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &beginStore{}
			c := &Coordinator{Store: store, Legs: accounts, NewID: func() string { return "id" }, Now: time.Now, PrepareTimeout: time.Second}
			_, err := c.Transfer(context.Background(), Transfer{From: tc.from, To: tc.to, Amount: tc.amount, RequestID: "r-1"})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Transfer = %v, want %v", err, tc.want)
			}
			if store.begun != (tc.want == errLogged) {
				t.Fatalf("logged = %v for %v", store.begun, err)
			}
		})
	}
}

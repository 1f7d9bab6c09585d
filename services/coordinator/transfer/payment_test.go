package transfer

import (
	"errors"
	"fmt"
	"testing"

	"tsbank/contract"
	"tsbank/contract/money"
)

func currencies(of map[string]string) func(string) (money.Currency, error) {
	return func(account string) (money.Currency, error) {
		code, ok := of[account]
		if !ok {
			return money.Currency{}, ErrAccountNotFound
		}
		return money.LookupCurrency(code)
	}
}

func TestNewPayment(t *testing.T) {
	t.Parallel()
	cur := currencies(map[string]string{"a": "EUR", "b": "EUR", "c": "EUR", "d": "EUR", "u": "USD"})
	leg := func(account string, side contract.Side, amount string) LegRequest {
		return LegRequest{Account: account, Side: side, Amount: amount}
	}
	many := make([]LegRequest, contract.MaxPaymentLegs+1)
	for i := range many {
		many[i] = leg(fmt.Sprint("x", i), contract.SideCredit, "1")
	}
	for _, tc := range []struct {
		name    string
		legs    []LegRequest
		wantErr error
	}{
		{"a payroll of one debit and three credits is accepted", []LegRequest{leg("a", contract.SideDebit, "6"), leg("b", contract.SideCredit, "1"), leg("c", contract.SideCredit, "2"), leg("d", contract.SideCredit, "3.00")}, nil},
		{"a bill split of three debits and one credit is accepted", []LegRequest{leg("a", contract.SideDebit, "1.50"), leg("b", contract.SideDebit, "1.50"), leg("c", contract.SideDebit, "1"), leg("d", contract.SideCredit, "4")}, nil},
		{"one leg is refused", []LegRequest{leg("a", contract.SideDebit, "1")}, ErrInvalidPayment},
		{"seventeen legs are refused", many, ErrInvalidPayment},
		{"an account twice is refused", []LegRequest{leg("a", contract.SideDebit, "1"), leg("a", contract.SideCredit, "1")}, ErrInvalidPayment},
		{"an unknown side is refused", []LegRequest{leg("a", "refund", "1"), leg("b", contract.SideCredit, "1")}, ErrInvalidPayment},
		{"debits only are refused", []LegRequest{leg("a", contract.SideDebit, "1"), leg("b", contract.SideDebit, "1")}, ErrInvalidPayment},
		{"unbalanced legs are refused", []LegRequest{leg("a", contract.SideDebit, "2"), leg("b", contract.SideCredit, "1.99")}, ErrInvalidPayment},
		{"two currencies are refused", []LegRequest{leg("a", contract.SideDebit, "1"), leg("u", contract.SideCredit, "1")}, ErrCurrencyMismatch},
		{"a missing account is refused", []LegRequest{leg("a", contract.SideDebit, "1"), leg("z", contract.SideCredit, "1")}, ErrAccountNotFound},
		{"a zero amount is refused", []LegRequest{leg("a", contract.SideDebit, "0"), leg("b", contract.SideCredit, "0")}, ErrInvalidAmount},
		{"too many decimals are refused", []LegRequest{leg("a", contract.SideDebit, "1.001"), leg("b", contract.SideCredit, "1.001")}, ErrInvalidAmount},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := NewPayment(PaymentRequest{RequestID: "r", Legs: tc.legs}, cur)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("NewPayment = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.State != contract.TransferPreparing || p.Currency != "EUR" || len(p.Legs) != len(tc.legs) {
				t.Fatalf("payment = %+v", p)
			}
			var sum int64
			for i, l := range p.Legs {
				if want := fmt.Sprintf("%s.%d", tc.legs[i].Side, i+1); l.Name != want {
					t.Errorf("leg %d named %q, want %q", i, l.Name, want)
				}
				if l.Side == contract.SideDebit {
					sum += l.AmountMinor
				}
			}
			if sum != p.AmountMinor {
				t.Errorf("amount %d, debits %d", p.AmountMinor, sum)
			}
		})
	}
}

func TestDecidePayment(t *testing.T) {
	t.Parallel()
	p := Payment{Currency: "EUR", Legs: []PaymentLeg{
		{Name: "debit.1", Account: "a", Side: contract.SideDebit, Currency: "EUR", AmountMinor: 300},
		{Name: "credit.2", Account: "b", Side: contract.SideCredit, Currency: "EUR", AmountMinor: 100},
		{Name: "credit.3", Account: "c", Side: contract.SideCredit, Currency: "EUR", AmountMinor: 200},
	}}
	yes := func(n int64) Vote { return Vote{Yes: true, Currency: "EUR", AmountMinor: n} }
	no := func(reason contract.Code) Vote { return Vote{Reason: reason, Message: string(reason)} }
	for _, tc := range []struct {
		name    string
		votes   []Vote
		outcome contract.TransferState
		reason  contract.Code
	}{
		{"every leg yes commits", []Vote{yes(300), yes(100), yes(200)}, contract.TransferCommitted, ""},
		{"one leg no aborts with its reason", []Vote{yes(300), yes(100), no(contract.CodeAccountClosed)}, contract.TransferAborted, contract.CodeAccountClosed},
		{"the first refusing leg gives the reason", []Vote{yes(300), no(contract.CodeTimeout), no(contract.CodeAccountClosed)}, contract.TransferAborted, contract.CodeTimeout},
		{"a debit's no comes first in leg order", []Vote{no(contract.CodeInsufficient), no(contract.CodeTimeout), yes(200)}, contract.TransferAborted, contract.CodeInsufficient},
		{"a leg in another currency aborts", []Vote{yes(300), {Yes: true, Currency: "USD", AmountMinor: 100}, yes(200)}, contract.TransferAborted, contract.CodeCurrencyMismatch},
		{"a leg that disagrees on its amount aborts", []Vote{yes(300), yes(100), yes(20)}, contract.TransferAborted, contract.CodeInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := DecidePayment(p, tc.votes)
			if d.Outcome != tc.outcome || d.Reason != tc.reason {
				t.Fatalf("DecidePayment = %+v, want %s %q", d, tc.outcome, tc.reason)
			}
			if len(d.Votes) != len(tc.votes) || d.Votes[0] != tc.votes[0].String() {
				t.Fatalf("votes = %v", d.Votes)
			}
			if d.Outcome == contract.TransferAborted && d.Message == "" {
				t.Fatal("an abort without a message")
			}
		})
	}
}

// TestDecidePaymentChecksEachLegInItsOwnCurrency: an exchange's legs are in two currencies, and
// each vote must be in its leg's, not in the payment's (the payer's).
func TestDecidePaymentChecksEachLegInItsOwnCurrency(t *testing.T) {
	t.Parallel()
	p := Payment{Currency: "EUR", Legs: []PaymentLeg{
		{Name: "debit.1", Account: "alice", Side: contract.SideDebit, Currency: "EUR", AmountMinor: 1000},
		{Name: "credit.2", Account: "fx-EUR", Side: contract.SideCredit, Currency: "EUR", AmountMinor: 1000},
		{Name: "debit.3", Account: "fx-JPY", Side: contract.SideDebit, Currency: "JPY", AmountMinor: 1625},
		{Name: "credit.4", Account: "erin", Side: contract.SideCredit, Currency: "JPY", AmountMinor: 1625},
	}}
	votes := []Vote{{Yes: true, Currency: "EUR", AmountMinor: 1000}, {Yes: true, Currency: "EUR", AmountMinor: 1000},
		{Yes: true, Currency: "JPY", AmountMinor: 1625}, {Yes: true, Currency: "JPY", AmountMinor: 1625}}
	if d := DecidePayment(p, votes); d.Outcome != contract.TransferCommitted {
		t.Fatalf("DecidePayment = %+v, want committed", d)
	}
	votes[3].Currency = "EUR"
	if d := DecidePayment(p, votes); d.Outcome != contract.TransferAborted || d.Reason != contract.CodeCurrencyMismatch {
		t.Fatalf("DecidePayment = %+v, want aborted currency_mismatch", d)
	}
}

func TestAPaymentLegsCounterpartyIsTheOnlyAccountOnTheOtherSide(t *testing.T) {
	t.Parallel()
	p := Payment{Legs: []PaymentLeg{{Account: "boss", Side: contract.SideDebit}, {Account: "x", Side: contract.SideCredit}, {Account: "y", Side: contract.SideCredit}}}
	if got := p.Counterparty(p.Legs[1]); got != "boss" {
		t.Errorf("a credit of a payroll: counterparty %q, want boss", got)
	}
	if got := p.Counterparty(p.Legs[0]); got != "" {
		t.Errorf("the payroll's debit: counterparty %q, want none (two payees)", got)
	}
}

package e2e

import (
	"testing"

	"tsbank/contract"
)

// TestExchangeAttacks: a customer cannot set or read rates, cannot quote for an account that is
// not theirs, and cannot pay with another customer's quote; nothing moves.
func TestExchangeAttacks(t *testing.T) {
	sb := startSecureBank(t, nil)
	b := sb.bank
	b.open("erin", "account-2", "JPY")
	b.open("fx-EUR", "account-1", "EUR")
	b.open("fx-JPY", "account-2", "JPY")
	b.deposit("fx-JPY", "100000")
	if _, err := b.c.SetRate(ctx(t), contract.RateSetRequest{ID: "r-1", Base: "EUR", Quote: "JPY", Rate: "162.5"}); err != nil {
		t.Fatal(err)
	}
	alice, bob := sb.customer("alice"), sb.customer("bob")
	if q, err := bob.c.Quote(ctx(t), "bob", contract.QuoteRequest{ID: "q-bob", To: "erin", Amount: "10.00"}); err != nil || q.ToAmount != "1625" {
		t.Fatalf("bob quotes for his own account: %+v, %v", q, err)
	}
	sb.historyMatchesOutboxes()
	before := sb.state(t)

	alice.publishDenied(t, contract.SubjectRatesSet, contract.SubjectRates, contract.QuoteSubject("bob"))
	// bob's quote is named by bob's id, looked up for the paying account of the subject: from
	// alice's account there is no such quote, and from bob's alice cannot send.
	_, err := alice.c.Transfer(ctx(t), "alice", contract.TransferRequest{ID: "x-1", Quote: "q-bob"})
	wantCode(t, err, contract.CodeUnknownQuote)
	alice.publishDenied(t, contract.TransferSubject("bob"))
	sb.unchanged(t, before)
	if bal, err := bob.c.Balance(ctx(t), "bob"); err != nil || bal.Balance != "100.00" {
		t.Fatalf("bob's balance %+v, %v", bal, err)
	}
}

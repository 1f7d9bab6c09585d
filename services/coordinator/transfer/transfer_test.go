package transfer

import "testing"

func TestDecide(t *testing.T) {
	yes := func(cur string, n int64) Vote { return Vote{Yes: true, Currency: cur, AmountMinor: n} }
	no := func(reason string) Vote { return Vote{Reason: reason, Message: reason} }
	for _, tc := range []struct {
		name          string
		debit, credit Vote
		outcome       string
		reason        string
	}{
		{"two yes votes commit", yes("EUR", 100), yes("EUR", 100), Committed, ""},
		{"a debit no aborts with its reason", no("insufficient_funds"), yes("EUR", 100), Aborted, "insufficient_funds"},
		{"a credit no aborts with its reason", yes("EUR", 100), no("account_closed"), Aborted, "account_closed"},
		{"the debit reason comes first", no("insufficient_funds"), no("timeout"), Aborted, "insufficient_funds"},
		{"different currencies abort", yes("EUR", 100), yes("USD", 100), Aborted, ReasonCurrencyMismatch},
		{"different amounts abort", yes("EUR", 100), yes("EUR", 10), Aborted, "internal"},
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

package customer

import (
	"slices"
	"strings"
	"testing"
)

// TestPermissionsOfACustomerListEachOwnedAccountsSubjectsAndNothingWider pins the customer's
// subjects. Deposits are not among them: money comes in through a teller.
func TestPermissionsOfACustomerListEachOwnedAccountsSubjectsAndNothingWider(t *testing.T) {
	got := PermissionsOf(Customer{ID: "carol", Accounts: []string{"carol-1", "carol-2"}})
	wantPub := []string{
		"bank.account.carol-1.open", "bank.account.carol-1.get", "bank.account.carol-1.balance",
		"bank.account.carol-1.withdraw", "bank.account.carol-1.close",
		"bank.transfer.carol-1", "bank.transfer.carol-1.status", "bank.transfer.carol-1.refund", "bank.quote.carol-1",
		"bank.history.carol-1.query", "bank.history.carol-1.statement", "bank.history.carol-1.balance_at",
		"bank.account.carol-2.open", "bank.account.carol-2.get", "bank.account.carol-2.balance",
		"bank.account.carol-2.withdraw", "bank.account.carol-2.close",
		"bank.transfer.carol-2", "bank.transfer.carol-2.status", "bank.transfer.carol-2.refund", "bank.quote.carol-2",
		"bank.history.carol-2.query", "bank.history.carol-2.statement", "bank.history.carol-2.balance_at",
		"bank.customer.carol.accounts",
	}
	wantSub := []string{"_INBOX_carol.>", "bank.events.carol-1.>", "bank.events.carol-2.>"}
	slices.Sort(wantPub)
	slices.Sort(got.Publish)
	if !slices.Equal(got.Publish, wantPub) {
		t.Errorf("publish =\n%q\nwant\n%q", got.Publish, wantPub)
	}
	if !slices.Equal(got.Subscribe, wantSub) {
		t.Errorf("subscribe = %q, want %q", got.Subscribe, wantSub)
	}
}

func TestPermissionsOfACustomerWithoutAccountsAllowOnlyTheirOwnQuestions(t *testing.T) {
	got := PermissionsOf(Customer{ID: "dave"})
	if !slices.Equal(got.Publish, []string{"bank.customer.dave.accounts"}) {
		t.Errorf("publish = %q", got.Publish)
	}
	if !slices.Equal(got.Subscribe, []string{"_INBOX_dave.>"}) {
		t.Errorf("subscribe = %q", got.Subscribe)
	}
}

// TestPublishPermissionsHaveNoWildcard pins the literal operation subjects: a wildcard such as
// bank.account.carol-1.> would open every operation added to the account service later.
func TestPublishPermissionsHaveNoWildcard(t *testing.T) {
	got := PermissionsOf(Customer{ID: "carol", Accounts: []string{"carol-1"}})
	for _, s := range got.Publish {
		for _, tok := range strings.Split(s, ".") {
			if tok == "*" || tok == ">" {
				t.Errorf("publish subject %q has a wildcard", s)
			}
		}
	}
}

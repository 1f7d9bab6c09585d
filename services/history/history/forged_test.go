package history

import (
	"testing"

	"tsbank/contract"
)

func TestForgeryNamesWhyAnEventIsForgedAndNothingForAGenuineOne(t *testing.T) {
	t.Parallel()
	row := Row{Account: "bob", Type: contract.EventDeposit, Node: "account-2"}
	outbox := func(node, account, owner string) Origin {
		return Origin{PublishingNode: node, Account: account, Type: contract.EventDeposit, Owner: owner}
	}
	for _, tc := range []struct {
		name   string
		origin Origin
		want   string
	}{
		{"genuine", outbox("account-2", "bob", "account-2"), ""},
		{"published by another node", outbox("account-1", "bob", "account-2"), ForgedNodeMismatch},
		{"subject of another account", outbox("account-2", "alice", "account-2"), ForgedSubjectMismatch},
		{"node not the owner", outbox("account-2", "bob", "account-1"), ForgedNotOwner},
		{"account nobody owns", outbox("account-2", "bob", ""), ForgedUnregistered},
		{"legacy subject, owner", Origin{Legacy: true, Owner: "account-2"}, ""},
		{"legacy subject, not the owner", Origin{Legacy: true, Owner: "account-1"}, ForgedNotOwner},
	} {
		t.Run(tc.name+" is "+tc.want, func(t *testing.T) {
			if got := Forgery(row, tc.origin); got != tc.want {
				t.Fatalf("Forgery = %q, want %q", got, tc.want)
			}
		})
	}
}

package e2e

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"tsbank/contract"
	"tsbank/testkit"
)

// TestShippedNATSConfigGivesEachUserOnlyItsSubjects runs the whole bank on the shipped NATS
// configuration, each service as its own user and the customers logged in through the auth
// service, and checks that customers can use their own accounts and nothing of anyone else's.
func TestShippedNATSConfigGivesEachUserOnlyItsSubjects(t *testing.T) {
	sb := startSecureBank(t, nil)
	b := sb.bank
	alice, bob := sb.customer("alice"), sb.customer("bob")

	t.Run("customers use their own accounts", func(t *testing.T) {
		events, err := alice.nc.SubscribeSync("bank.events.alice.>")
		if err != nil {
			t.Fatal(err)
		}
		if tr, err := alice.c.Transfer(ctx(t), "alice", contract.TransferRequest{ID: "t-1", To: "bob", Amount: "20.00"}); err != nil || tr.Status != contract.TransferCommitted {
			t.Fatalf("alice pays bob: %+v, %v", tr, err)
		}
		if _, err := events.NextMsg(5 * time.Second); err != nil {
			t.Fatalf("alice sees no event of her own: %v", err)
		}
		if bal, err := bob.c.Balance(ctx(t), "bob"); err != nil || bal.Balance != "120.00" {
			t.Fatalf("bob's balance %+v, %v", bal, err)
		}
		if _, err := alice.c.Withdraw(ctx(t), "alice", contract.MoneyRequest{ID: "w-1", Amount: "5.00"}); err != nil {
			t.Fatalf("alice withdraws: %v", err)
		}
		var mine contract.CustomerAccounts
		if err := alice.c.Call(ctx(t), contract.CustomerAccountsSubject("alice"), struct{}{}, &mine); err != nil || !slices.Equal(mine.Accounts, []string{"alice"}) {
			t.Fatalf("alice's accounts: %+v, %v", mine, err)
		}
		testkit.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
			var page contract.HistoryPage
			if err := alice.c.Call(ctx(t), contract.HistorySubject("alice", "query"), contract.HistoryQuery{}, &page); err != nil {
				return err
			}
			if len(page.Rows) != 3 {
				return fmt.Errorf("alice's history has %d rows", len(page.Rows))
			}
			return nil
		})
	})

	t.Run("customers are denied everything of anyone else's and the bank's own requests", func(t *testing.T) {
		alice.publishDenied(t,
			"bank.account.bob.deposit", "bank.account.bob.withdraw", "bank.account.bob.balance", "bank.account.bob.close",
			"bank.transfer.bob", "bank.transfer.bob.status", "bank.history.bob.query", "bank.history.reconcile",
			"bank.account.alice.deposit", "bank.account.alice.limit", "bank.account.alice.whereis",
			"bank.accounts.list", "bank.accounts.open", "bank.nodes.list", "bank.node.account-2.account.bob.commit",
			"bank.coordinator.decision", "bank.transfers.resolve", "bank.customers.add", "bank.customer.bob.accounts",
			"bank.events.alice.deposit", "bank.outbox.account-1.alice.deposit", "$SRV.PING", "$JS.API.STREAM.DELETE.TSBANK_EVENTS",
			"$KV.tsbank_accounts.bob", "$SYS.REQ.USER.AUTH")
		alice.subscribeDenied(t, "bank.events.bob.>", "bank.events.>", "_INBOX.>", "_INBOX_bob.>", "bank.account.*.deposit", "_R_.>")
		if bal, err := bob.c.Balance(ctx(t), "bob"); err != nil || bal.Balance != "120.00" {
			t.Fatalf("bob's balance changed: %+v, %v", bal, err)
		}
	})

	t.Run("a wrong password, an unknown customer and a service's name are refused", func(t *testing.T) {
		for _, c := range []struct{ name, password string }{
			{"alice", "not-alices-password"}, {"mallory", "mallory-password"}, {"operator", customerPasswords["alice"]},
		} {
			if _, err := connectAs(t, sb.s, c.name, c.password, ""); !errors.Is(err, nats.ErrAuthorization) {
				t.Fatalf("log in as %s with a wrong password: %v", c.name, err)
			}
		}
	})

	t.Run("a customer created at run time logs in and sees only their accounts", func(t *testing.T) {
		if _, err := b.c.AddCustomer(ctx(t), contract.AddCustomerRequest{ID: "add-carol", Customer: "carol", Password: "carol-password-3", Accounts: []string{"carol-1"}}); err != nil {
			t.Fatal(err)
		}
		carol, err := connectAs(t, sb.s, "carol", "carol-password-3", contract.CustomerInboxPrefix("carol"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := carol.c.Open(ctx(t), "carol-1", contract.OpenRequest{ID: "o-1", Currency: "EUR"}); err != nil {
			t.Fatal(err)
		}
		var mine contract.CustomerAccounts
		if err := carol.c.Call(ctx(t), contract.CustomerAccountsSubject("carol"), struct{}{}, &mine); err != nil || !slices.Equal(mine.Accounts, []string{"carol-1"}) {
			t.Fatalf("carol's accounts: %+v, %v", mine, err)
		}
		carol.publishDenied(t, "bank.account.alice.balance", "bank.account.carol-2.open")
	})

	t.Run("an account opened by a customer starts without credit", func(t *testing.T) {
		var acc contract.Account
		err := alice.c.Call(ctx(t), contract.AccountSubject("alice", contract.OpOpen),
			map[string]string{"id": "o-2", "currency": "EUR", "overdraft_limit": "10000000000000.00"}, &acc)
		var ce *contract.Error
		if !errors.As(err, &ce) || ce.Code != contract.CodeBadRequest {
			t.Fatalf("open with a credit line: %v", err)
		}
		acc, err = alice.c.Get(ctx(t), "alice")
		if err != nil || acc.OverdraftLimit != "0.00" {
			t.Fatalf("alice's account: %+v, %v", acc, err)
		}
	})

	t.Run("the operator sees the services", func(t *testing.T) {
		msg, err := b.nc.Request("$SRV.PING.coordinator", nil, 2*time.Second)
		if err != nil || !strings.Contains(string(msg.Data), "coordinator") {
			t.Fatalf("micro ping: %v", err)
		}
	})
}

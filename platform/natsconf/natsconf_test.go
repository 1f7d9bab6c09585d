package natsconf

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"tsbank/contract"
)

var shippedNodes = Options{Nodes: []string{"account-1", "account-2"}}

// TestShippedConfigIsGeneratedFromTheEndpointTable fails when deploy/nats/nats.conf was edited by
// hand or the endpoint table changed without regenerating it.
func TestShippedConfigIsGeneratedFromTheEndpointTable(t *testing.T) {
	got, err := os.ReadFile("../../deploy/nats/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != Render(shippedNodes) {
		t.Fatal("deploy/nats/nats.conf is not what the endpoint table gives: run\n  go run ./cmd/tsbankctl nats-config > deploy/nats/nats.conf")
	}
}

// TestShippedConfigLoadsWithAccountsAndCallout parses the shipped file as the server does and
// checks the isolation it promises.
func TestShippedConfigLoadsWithAccountsAndCallout(t *testing.T) {
	for _, u := range []string{"account-1", "account-2", UserCoordinator, UserHistory, UserCustomers, UserObserver, UserOperator, UserAuth, UserSystem} {
		t.Setenv(PasswordVar(u), "pw-"+u)
	}
	issuer, _ := nkeys.CreateAccount()
	pub, _ := issuer.PublicKey()
	t.Setenv("AUTH_ISSUER_PUBLIC_KEY", pub)
	opts, err := server.ProcessConfigFile("../../deploy/nats/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	if opts.AuthCallout == nil || opts.AuthCallout.Issuer != pub || opts.AuthCallout.Account != AuthAccount ||
		!slices.Equal(opts.AuthCallout.AllowedAccounts, []string{CustomersAccount}) {
		t.Fatalf("auth callout: %+v", opts.AuthCallout)
	}
	accountOf := map[string]string{}
	for _, u := range opts.Users {
		accountOf[u.Username] = u.Account.Name
		if u.Username != UserOperator && u.Username != UserAuth && u.Username != UserSystem && u.Permissions == nil {
			t.Errorf("service user %s has no permissions", u.Username)
		}
	}
	for u, want := range map[string]string{"account-1": BankAccount, UserCoordinator: BankAccount, UserOperator: BankAccount,
		UserAuth: AuthAccount, UserSystem: SystemAccount} {
		if accountOf[u] != want {
			t.Errorf("user %s is in account %q, want %s", u, accountOf[u], want)
		}
	}
}

// TestNoServiceMayManageJetStream checks every service user's publish rights: JetStream API calls
// that only read, and no create, update, delete, purge or roll-up anywhere.
func TestNoServiceMayManageJetStream(t *testing.T) {
	for _, c := range []struct {
		role contract.Role
		user string
	}{{contract.RoleNode, "account-1"}, {contract.RoleCoordinator, UserCoordinator}, {contract.RoleHistory, UserHistory}, {contract.RoleCustomers, UserCustomers}, {contract.RoleObserver, UserObserver}} {
		p := ServicePermissions(c.role, c.user)
		for _, s := range p.Publish {
			if strings.HasPrefix(s, "$JS.API.") {
				read := strings.HasPrefix(s, "$JS.API.STREAM.INFO.") || strings.HasPrefix(s, "$JS.API.DIRECT.GET.") ||
					strings.HasPrefix(s, "$JS.API.CONSUMER.INFO.") || strings.HasPrefix(s, "$JS.API.CONSUMER.MSG.NEXT.") || s == "$JS.API.INFO"
				if !read || strings.Contains(s, ">") && !strings.HasPrefix(s, "$JS.API.DIRECT.GET.") {
					t.Errorf("%s may publish %s", c.user, s)
				}
			}
			if s == ">" || strings.HasPrefix(s, "$KV.>") || s == "$JS.>" || s == "bank.>" || s == "bank.events.>" {
				t.Errorf("%s may publish %s", c.user, s)
			}
		}
		for _, s := range p.Subscribe {
			if s == "_INBOX.>" || s == ">" {
				t.Errorf("%s may subscribe to %s, every inbox", c.user, s)
			}
		}
	}
	// A node writes only its own lease, heartbeat and events.
	p := ServicePermissions(contract.RoleNode, "account-1")
	for _, s := range p.Publish {
		if strings.Contains(s, "account-2") || s == "$KV.tsbank_leases.*" || s == "$KV.tsbank_nodes.*" || strings.HasPrefix(s, "bank.outbox.*") {
			t.Errorf("account-1 may publish %s", s)
		}
	}
}

// TestCustomersReachOnlyTheirOwnAccounts checks the permissions a customer gets at login.
func TestCustomersReachOnlyTheirOwnAccounts(t *testing.T) {
	pub, sub, err := contract.CustomerPermissions("carol", []string{"carol-1", "carol-2"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bank.account.carol-1.balance", "bank.account.carol-2.withdraw", "bank.transfer.carol-1",
		"bank.transfer.carol-2.status", "bank.history.carol-1.query", "bank.customer.carol.accounts"} {
		if !slices.Contains(pub, want) {
			t.Errorf("carol may not publish %s", want)
		}
	}
	for _, s := range pub {
		if strings.ContainsAny(s, "*>") || !(strings.Contains(s, ".carol-1") || strings.Contains(s, ".carol-2") || strings.Contains(s, ".carol.")) {
			t.Errorf("carol may publish %s", s)
		}
		if strings.HasSuffix(s, ".deposit") || strings.HasSuffix(s, ".limit") || strings.HasSuffix(s, ".whereis") {
			t.Errorf("carol may publish %s, an operator's request", s)
		}
	}
	if !slices.Equal(sub, []string{"_INBOX_carol.>", "bank.events.carol-1.>", "bank.events.carol-2.>"}) {
		t.Errorf("carol subscribes %v", sub)
	}
	services, _ := Exports()
	for _, s := range services {
		if strings.HasPrefix(s, "bank.node.") || strings.HasPrefix(s, "bank.coordinator.") || strings.HasPrefix(s, "$") ||
			strings.HasPrefix(s, "bank.transfers.") || strings.HasPrefix(s, "bank.customers.") {
			t.Errorf("BANK exports %s to customers", s)
		}
	}
	if _, _, err := contract.CustomerPermissions("carol", []string{"*"}); err == nil {
		t.Error("an account id * was accepted")
	}
}

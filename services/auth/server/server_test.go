package server_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/platform/lifecycle"
	aserver "tsbank/services/auth/server"
	"tsbank/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// natsConf is the test's nats.conf: the bank's accounts in config mode, customers delegated to
// the auth callout. BANK exports to CUSTOMERS what a customer may ask; the stand-in `bank` user
// answers account requests in place of the account nodes.
const natsConf = `
listen: "127.0.0.1:-1"
accounts {
  BANK {
    users: [
      { user: customers, password: customers-secret, permissions: {
          publish: { allow: ["$SRV.>"] }
          subscribe: { allow: ["bank.customers.>", "bank.customer.*.accounts", "$SRV.>"] }
          allow_responses: true } }
      { user: operator, password: operator-secret }
      { user: bank, password: bank-secret }
    ]
    exports: [
      { service: "bank.account.*.open" }, { service: "bank.account.*.get" }, { service: "bank.account.*.balance" }
      { service: "bank.account.*.deposit" }, { service: "bank.account.*.withdraw" }, { service: "bank.account.*.close" }
      { service: "bank.transfer.*" }, { service: "bank.transfer.*.status" }
      { service: "bank.history.*.query" }, { service: "bank.history.*.statement" }
      { service: "bank.customer.*.accounts" }
      { stream: "bank.events.>" }
    ]
  }
  CUSTOMERS {
    imports: [
      { service: { account: BANK, subject: "bank.account.*.open" } }, { service: { account: BANK, subject: "bank.account.*.get" } }
      { service: { account: BANK, subject: "bank.account.*.balance" } }, { service: { account: BANK, subject: "bank.account.*.deposit" } }
      { service: { account: BANK, subject: "bank.account.*.withdraw" } }, { service: { account: BANK, subject: "bank.account.*.close" } }
      { service: { account: BANK, subject: "bank.transfer.*" } }, { service: { account: BANK, subject: "bank.transfer.*.status" } }
      { service: { account: BANK, subject: "bank.history.*.query" } }, { service: { account: BANK, subject: "bank.history.*.statement" } }
      { service: { account: BANK, subject: "bank.customer.*.accounts" } }
      { stream: { account: BANK, subject: "bank.events.>" } }
    ]
  }
  AUTH {
    users: [
      { user: auth, password: auth-secret, permissions: {
          subscribe: "$SYS.REQ.USER.AUTH"
          publish: { deny: ">" }
          allow_responses: true } }
    ]
  }
}
authorization {
  auth_callout {
    issuer: %s
    account: AUTH
    auth_users: [ auth ]
    allowed_accounts: [ CUSTOMERS ]
  }
}
`

// bank is a nats-server configured like the deployment, the auth service, and a stand-in
// account service that answers balance requests and records the reply subjects it was given.
type bank struct {
	t        testing.TB
	ns       *server.Server
	operator *client.Client
	replies  chan string
}

// startNATS runs a nats-server on natsConf with a fresh issuer key, and returns the key.
func startNATS(t testing.TB) (*server.Server, nkeys.KeyPair) {
	t.Helper()
	issuer, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := issuer.PublicKey()
	conf := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, natsConf, pub), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("nats.conf: %v", err)
	}
	opts.NoLog, opts.NoSigs = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	return ns, issuer
}

func startBank(t testing.TB) *bank {
	t.Helper()
	ns, issuer := startNATS(t)
	seed, _ := issuer.Seed()
	b := &bank{t: t, ns: ns, replies: make(chan string, 16)}

	cfg := aserver.Config{
		Config: lifecycle.Config{
			DatabaseURL: testkit.Postgres(t, "auth"), NATSURL: ns.ClientURL(), NATSUser: "auth", NATSPassword: "auth-secret",
			HTTPAddr: "127.0.0.1:0", MaxInFlight: 8, DBMaxConns: 4,
		},
		BankUser: "customers", BankPassword: "customers-secret", IssuerSeed: string(seed),
		CustomersAccount: "CUSTOMERS", LoginTTL: time.Hour, PasswordCost: bcrypt.MinCost,
		CalloutWorkers: 2, RequestTimeout: 5 * time.Second,
	}
	srv, err := aserver.Start(context.Background(), cfg, testkit.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(5 * time.Second) })

	b.operator = client.New(testkit.Connect(t, ns, nats.UserInfo("operator", "operator-secret")))
	responder := testkit.Connect(t, ns, nats.UserInfo("bank", "bank-secret"))
	if _, err := responder.Subscribe("bank.account.*.balance", func(m *nats.Msg) {
		select {
		case b.replies <- m.Reply:
		default: // only the test that reads them drains the channel first
		}
		account := strings.Split(m.Subject, ".")[2]
		_ = m.Respond(fmt.Appendf(nil, `{"account":%q,"balance":"10.00","currency":"EUR"}`, account))
	}); err != nil {
		t.Fatal(err)
	}
	if err := responder.Flush(); err != nil {
		t.Fatal(err)
	}
	return b
}

// customerConn logs in as a customer, with their private inbox prefix; asyncErrs receives the
// server's asynchronous errors (permissions violations).
type customerConn struct {
	nc        *nats.Conn
	asyncErrs chan error
}

func (b *bank) login(user, password string) (*customerConn, error) {
	c := &customerConn{asyncErrs: make(chan error, 16)}
	nc, err := nats.Connect(b.ns.ClientURL(), nats.UserInfo(user, password), nats.CustomInboxPrefix(contract.CustomerInboxPrefix(user)),
		nats.NoReconnect(), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { c.asyncErrs <- err }))
	if err != nil {
		return nil, err
	}
	b.t.Cleanup(nc.Close)
	c.nc = nc
	return c, nil
}

func (b *bank) mustLogin(user, password string) *customerConn {
	b.t.Helper()
	c, err := b.login(user, password)
	if err != nil {
		b.t.Fatalf("login as %s: %v", user, err)
	}
	return c
}

// balance asks for account's balance and returns the reply body.
func (c *customerConn) balance(account string) (string, error) {
	m, err := c.nc.Request(contract.AccountSubject(account, contract.OpBalance), nil, 2*time.Second)
	if err != nil {
		return "", err
	}
	return string(m.Data), nil
}

// requireViolation waits for the server to report a permissions violation naming subject.
func (c *customerConn) requireViolation(t testing.TB, subject string) {
	t.Helper()
	select {
	case err := <-c.asyncErrs:
		if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), subject) {
			t.Fatalf("async error %v, want a permissions violation on %s", err, subject)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no permissions violation on %s", subject)
	}
}

func requireRefused(t testing.TB, b *bank, user, password string) {
	t.Helper()
	if _, err := b.login(user, password); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("login as %s: %v, want %v", user, err, nats.ErrAuthorization)
	}
}

// TestCustomersAddedAtRunTimeLogInConfinedToTheirAccounts walks a customer's life without a
// server reload: added by an operator, logged in by the auth callout, confined to her accounts
// and inbox, given another account at her next login, then disabled.
func TestCustomersAddedAtRunTimeLogInConfinedToTheirAccounts(t *testing.T) {
	b := startBank(t)
	ctx := context.Background()
	const password = "carol's long password"
	c, err := b.operator.AddCustomer(ctx, contract.AddCustomerRequest{ID: "add-carol", Customer: "carol", Password: password, Accounts: []string{"carol-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Accounts, []string{"carol-1"}) || c.Disabled {
		t.Fatalf("added %+v", c)
	}

	carol := b.mustLogin("carol", password)
	t.Run("carol reads her own account through the BANK export", func(t *testing.T) {
		body, err := carol.balance("carol-1")
		if err != nil || !strings.Contains(body, `"carol-1"`) {
			t.Fatalf("balance = %q, %v", body, err)
		}
	})
	t.Run("carol asks which accounts are hers", func(t *testing.T) {
		mine, err := client.New(carol.nc).MyAccounts(ctx, "carol")
		if err != nil || !slices.Equal(mine.Accounts, []string{"carol-1"}) {
			t.Fatalf("my accounts = %+v, %v", mine, err)
		}
	})
	t.Run("another account is a permissions violation", func(t *testing.T) {
		_ = carol.nc.Publish(contract.AccountSubject("dave", contract.OpBalance), nil)
		carol.requireViolation(t, "bank.account.dave.balance")
	})
	t.Run("another customer's accounts are a permissions violation", func(t *testing.T) {
		_ = carol.nc.Publish(contract.CustomerAccountsSubject("dave"), nil)
		carol.requireViolation(t, "bank.customer.dave.accounts")
	})
	t.Run("the shared inbox is a permissions violation", func(t *testing.T) {
		if _, err := carol.nc.SubscribeSync("_INBOX.>"); err != nil {
			t.Fatal(err)
		}
		carol.requireViolation(t, "_INBOX.>")
	})
	t.Run("a responder in BANK sees a mapped reply subject, never one carol chose", func(t *testing.T) {
		// Were the reply passed through, a BANK service answering it would publish, with its
		// own rights, to a subject of carol's choosing, such as a key of a KV bucket.
		for len(b.replies) > 0 {
			<-b.replies
		}
		if err := carol.nc.PublishRequest(contract.AccountSubject("carol-1", contract.OpBalance), "$KV.tsbank_accounts.carol-1", nil); err != nil {
			t.Fatal(err)
		}
		select {
		case reply := <-b.replies:
			if !strings.HasPrefix(reply, "_R_.") {
				t.Errorf("responder got reply subject %q, want _R_.…", reply)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the request did not reach the responder")
		}
	})

	t.Run("a wrong password and an unknown user are refused", func(t *testing.T) {
		requireRefused(t, b, "carol", "not carol's password")
		requireRefused(t, b, "mallory", password)
		requireRefused(t, b, "carol", "")
	})

	t.Run("a granted account is hers from her next login", func(t *testing.T) {
		if _, err := b.operator.GrantAccount(ctx, "carol", "carol-2"); err != nil {
			t.Fatal(err)
		}
		// The connection opened before the grant keeps its permissions.
		_ = carol.nc.Publish(contract.AccountSubject("carol-2", contract.OpBalance), nil)
		carol.requireViolation(t, "bank.account.carol-2.balance")
		again := b.mustLogin("carol", password)
		if body, err := again.balance("carol-2"); err != nil || !strings.Contains(body, `"carol-2"`) {
			t.Fatalf("balance of carol-2 after the grant = %q, %v", body, err)
		}
	})

	t.Run("a new password replaces the old one at the next login", func(t *testing.T) {
		if _, err := b.operator.SetPassword(ctx, "carol", "carol's newer password"); err != nil {
			t.Fatal(err)
		}
		requireRefused(t, b, "carol", password)
		b.mustLogin("carol", "carol's newer password")
	})

	t.Run("a disabled customer cannot log in", func(t *testing.T) {
		if _, err := b.operator.DisableCustomer(ctx, "carol"); err != nil {
			t.Fatal(err)
		}
		requireRefused(t, b, "carol", "carol's newer password")
	})
}

// TestDirectoryRefusesWhatItCannotKeep pins the operator endpoints' error codes.
func TestDirectoryRefusesWhatItCannotKeep(t *testing.T) {
	b := startBank(t)
	ctx := context.Background()
	add := contract.AddCustomerRequest{ID: "add-carol", Customer: "carol", Password: "a long password", Accounts: []string{"carol-1"}}
	if _, err := b.operator.AddCustomer(ctx, add); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		call func() error
		code contract.Code
	}{
		{"a repeated add answers the customer", func() error { _, err := b.operator.AddCustomer(ctx, add); return err }, ""},
		{"a repeated add with another password is a conflict", func() error {
			again := add
			again.Password = "another long password"
			_, err := b.operator.AddCustomer(ctx, again)
			return err
		}, contract.CodeConflict},
		{"another add of a taken id is customer_exists", func() error {
			again := add
			again.ID = "add-carol-again"
			_, err := b.operator.AddCustomer(ctx, again)
			return err
		}, contract.CodeCustomerExists},
		{"a short password is bad_request", func() error {
			_, err := b.operator.AddCustomer(ctx, contract.AddCustomerRequest{ID: "r", Customer: "dave", Password: "short", Accounts: []string{"dave"}})
			return err
		}, contract.CodeBadRequest},
		{"a bad id is invalid_id", func() error {
			_, err := b.operator.AddCustomer(ctx, contract.AddCustomerRequest{ID: "r", Customer: "dave.x", Password: "a long password", Accounts: []string{"dave"}})
			return err
		}, contract.CodeInvalidID},
		{"granting carol's account to another is account_owned", func() error {
			if _, err := b.operator.AddCustomer(ctx, contract.AddCustomerRequest{ID: "add-dave", Customer: "dave", Password: "a long password", Accounts: []string{"dave"}}); err != nil {
				return err
			}
			_, err := b.operator.GrantAccount(ctx, "dave", "carol-1")
			return err
		}, contract.CodeAccountOwned},
		{"an unknown customer is customer_not_found", func() error { _, err := b.operator.Customer(ctx, "nobody"); return err }, contract.CodeCustomerNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := contract.CodeOf(tc.call()); got != tc.code {
				t.Errorf("code %q, want %q", got, tc.code)
			}
		})
	}
	l, err := b.operator.Customers(ctx)
	if err != nil || len(l.Customers) != 2 || l.Customers[0].Customer != "carol" {
		t.Errorf("list = %+v, %v", l, err)
	}
}

// TestAStolenIssuerSeedPlacesAUserInAnyAccountOfTheConfig pins what ADR 0020 says a stolen
// AUTH_ISSUER_SEED allows: in config mode the server places a callout's user in the account its
// JWT names (the audience), whichever account of the file that is, allowed_accounts
// notwithstanding. A rogue responder holding the seed and the auth user's password mints a BANK
// user with every right; the seed is as sensitive as the auth service itself.
func TestAStolenIssuerSeedPlacesAUserInAnyAccountOfTheConfig(t *testing.T) {
	ns, issuer := startNATS(t)
	rogue := testkit.Connect(t, ns, nats.UserInfo("auth", "auth-secret"))
	if _, err := rogue.Subscribe("$SYS.REQ.USER.AUTH", func(m *nats.Msg) {
		req, err := jwt.DecodeAuthorizationRequestClaims(string(m.Data))
		if err != nil {
			t.Error(err)
			return
		}
		uc := jwt.NewUserClaims(req.UserNkey)
		uc.Audience = "BANK"
		uj, _ := uc.Encode(issuer)
		rc := jwt.NewAuthorizationResponseClaims(req.UserNkey)
		rc.Audience, rc.Jwt = req.Server.ID, uj
		token, _ := rc.Encode(issuer)
		_ = m.Respond([]byte(token))
	}); err != nil {
		t.Fatal(err)
	}
	if err := rogue.Flush(); err != nil {
		t.Fatal(err)
	}
	bankSide := testkit.Connect(t, ns, nats.UserInfo("bank", "bank-secret"))
	if _, err := bankSide.Subscribe("bank.node.account-1.account.x.commit", func(m *nats.Msg) { _ = m.Respond([]byte("committed")) }); err != nil {
		t.Fatal(err)
	}
	if err := bankSide.Flush(); err != nil {
		t.Fatal(err)
	}
	minted := testkit.Connect(t, ns, nats.UserInfo("anyone", "anything"))
	if _, err := minted.Request("bank.node.account-1.account.x.commit", nil, 2*time.Second); err != nil {
		t.Fatalf("the minted user did not reach a BANK-internal subject: %v", err)
	}
}

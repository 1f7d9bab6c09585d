package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/platform/natsconf"
	"tsbank/platform/provision"
	authserver "tsbank/services/auth/server"
	"tsbank/testkit"
)

// The shipped configuration's users, each with a password of its own in these tests.
var secureUsers = []string{"account-1", "account-2", natsconf.UserCoordinator, natsconf.UserHistory,
	natsconf.UserCustomers, natsconf.UserObserver, natsconf.UserOperator, natsconf.UserAuth, natsconf.UserSystem}

func password(user string) string { return "pw-" + user }

// Customers of the secure bank and their passwords (at least 12 characters).
var customerPasswords = map[string]string{"alice": "alice-password-1", "bob": "bob-password-22"}

// secureBank is the whole bank on the shipped NATS configuration (deploy/nats/nats.conf), every
// service logged in as its own user, customers logged in through the auth service.
type secureBank struct {
	*bank
	s *server.Server
}

// secureNATS runs a nats-server with the shipped configuration on a free port and a temp store;
// edit may change the options before the server starts.
func secureNATS(t *testing.T, edit func(*server.Options)) *server.Server {
	t.Helper()
	for _, u := range secureUsers {
		t.Setenv(natsconf.PasswordVar(u), password(u)) // the configuration reads them from the environment
	}
	issuer, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := issuer.Seed()
	pub, _ := issuer.PublicKey()
	t.Setenv("AUTH_ISSUER_PUBLIC_KEY", pub)
	t.Setenv("TEST_AUTH_ISSUER_SEED", string(seed))
	opts, err := server.ProcessConfigFile("../deploy/nats/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", -1, 0
	opts.StoreDir, opts.NoLog, opts.NoSigs = t.TempDir(), true, true
	if edit != nil {
		edit(opts)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s
}

// startSecureBank provisions the server as the operator, starts every service as its own user,
// and adds the customers alice (account alice, on account-1) and bob (bob, on account-2), who
// open their accounts; a teller deposits 100.00 into each.
func startSecureBank(t *testing.T, edit func(*server.Options)) *secureBank {
	t.Helper()
	s := secureNATS(t, edit)
	op := nats.UserInfo(natsconf.UserOperator, password(natsconf.UserOperator))
	testkit.Provision(t, s.ClientURL(), provision.Defaults, op)
	b := newBank(t)
	b.env["NATS_URL"] = s.ClientURL()
	b.nc = testkit.Connect(t, s, op) // the operator's connection
	b.c = client.New(b.nc)
	sb := &secureBank{bank: b, s: s}
	for _, name := range nodeNames {
		b.env["NATS_USER"], b.env["NATS_PASSWORD"] = name, password(name)
		b.startNode(name)
	}
	b.env["NATS_USER"], b.env["NATS_PASSWORD"] = natsconf.UserCoordinator, password(natsconf.UserCoordinator)
	b.startCoordinator()
	b.env["NATS_USER"], b.env["NATS_PASSWORD"] = natsconf.UserHistory, password(natsconf.UserHistory)
	b.startHistory()
	sb.startAuth()

	for name, pw := range customerPasswords {
		if _, err := b.c.AddCustomer(ctx(t), contract.AddCustomerRequest{ID: "add-" + name, Customer: name, Password: pw, Accounts: []string{name}}); err != nil {
			t.Fatalf("add customer %s: %v", name, err)
		}
	}
	for name, node := range map[string]string{"alice": "account-1", "bob": "account-2"} {
		c := sb.customer(name)
		if _, err := c.c.Open(ctx(t), name, contract.OpenRequest{ID: "o-1", Currency: "EUR", Node: node}); err != nil {
			t.Fatalf("%s opens her account: %v", name, err)
		}
		b.deposit(name, "100.00") // a teller's deposit
	}
	return sb
}

func (sb *secureBank) startAuth() {
	t := sb.t
	db := testkit.Postgres(t, "auth")
	cfg, err := authserver.ConfigFromEnv(func(k string) string {
		return map[string]string{
			"DATABASE_URL": db, "NATS_URL": sb.s.ClientURL(), "HTTP_ADDR": "127.0.0.1:0",
			"NATS_USER": natsconf.UserAuth, "NATS_PASSWORD": password(natsconf.UserAuth),
			"BANK_NATS_USER": natsconf.UserCustomers, "BANK_NATS_PASSWORD": password(natsconf.UserCustomers),
			"AUTH_ISSUER_SEED": os.Getenv("TEST_AUTH_ISSUER_SEED"), "PASSWORD_COST": "10",
		}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := authserver.Start(context.Background(), cfg, testkit.Logger(t))
	if err != nil {
		t.Fatalf("start auth: %v", err)
	}
	t.Cleanup(func() { a.Stop(5 * time.Second) })
}

// user is a connection as one NATS user that records the permission errors the server sends.
type user struct {
	nc     *nats.Conn
	c      *client.Client
	mu     sync.Mutex
	denied []string
}

// connectAs connects as name with password, with inbox as its inbox prefix if set.
func connectAs(t *testing.T, s *server.Server, name, password, inbox string) (*user, error) {
	u := &user{}
	opts := []nats.Option{nats.UserInfo(name, password), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		u.mu.Lock()
		u.denied = append(u.denied, err.Error())
		u.mu.Unlock()
	})}
	if inbox != "" {
		opts = append(opts, nats.CustomInboxPrefix(inbox))
	}
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		return nil, err
	}
	t.Cleanup(nc.Close)
	u.nc, u.c = nc, client.New(nc)
	return u, nil
}

// customer logs name in as a customer, with their private inbox.
func (sb *secureBank) customer(name string) *user {
	sb.t.Helper()
	u, err := connectAs(sb.t.(*testing.T), sb.s, name, customerPasswords[name], contract.CustomerInboxPrefix(name))
	if err != nil {
		sb.t.Fatalf("customer %s logs in: %v", name, err)
	}
	return u
}

// service connects with a service identity's credentials, as someone who stole them would.
func (sb *secureBank) service(name string) *user {
	sb.t.Helper()
	u, err := connectAs(sb.t.(*testing.T), sb.s, name, password(name), "_INBOX_"+name)
	if err != nil {
		sb.t.Fatalf("connect as %s: %v", name, err)
	}
	return u
}

// wasDenied waits for the server's permissions violation naming subject.
func (u *user) wasDenied(t *testing.T, what, subject string) {
	t.Helper()
	testkit.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		u.mu.Lock()
		defer u.mu.Unlock()
		for _, e := range u.denied {
			if strings.Contains(e, "Permissions Violation for "+what) && strings.Contains(e, `"`+subject+`"`) {
				return nil
			}
		}
		return fmt.Errorf("no permissions violation for %s %q (errors: %v)", what, subject, u.denied)
	})
}

// publishDenied publishes to each subject and waits for the server to refuse it.
func (u *user) publishDenied(t *testing.T, subjects ...string) {
	t.Helper()
	for _, subject := range subjects {
		if err := u.nc.Publish(subject, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		u.wasDenied(t, "Publish", subject)
	}
}

// subscribeDenied subscribes to each subject and waits for the server to refuse it.
func (u *user) subscribeDenied(t *testing.T, subjects ...string) {
	t.Helper()
	for _, subject := range subjects {
		if _, err := u.nc.SubscribeSync(subject); err != nil {
			t.Fatal(err)
		}
		u.wasDenied(t, "Subscription", subject)
	}
}

package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/testkit"
)

var passwords = map[string]string{
	"ACCOUNT_PASSWORD": "pw-account", "COORDINATOR_PASSWORD": "pw-coordinator", "HISTORY_PASSWORD": "pw-history",
	"OPERATOR_PASSWORD": "pw-operator", "ALICE_PASSWORD": "pw-alice", "BOB_PASSWORD": "pw-bob",
}

// secureNATS runs a nats-server with the shipped configuration, deploy/nats/nats.conf, on a free
// port and a temp store.
func secureNATS(t *testing.T) *server.Server {
	t.Helper()
	for k, v := range passwords {
		t.Setenv(k, v) // the configuration reads them from the environment
	}
	opts, err := server.ProcessConfigFile("../deploy/nats/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", -1, 0
	opts.StoreDir, opts.NoLog, opts.NoSigs = t.TempDir(), true, true
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

// user is a connection as one NATS user that records the permission errors the server sends.
type user struct {
	nc     *nats.Conn
	c      *client.Client
	mu     sync.Mutex
	denied []string
}

func connectAs(t *testing.T, s *server.Server, name, password string) (*user, error) {
	u := &user{}
	opts := []nats.Option{nats.UserInfo(name, password), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		u.mu.Lock()
		u.denied = append(u.denied, err.Error())
		u.mu.Unlock()
	})}
	if name == "alice" || name == "bob" {
		opts = append(opts, nats.CustomInboxPrefix("_INBOX_"+name))
	}
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		return nil, err
	}
	t.Cleanup(nc.Close)
	u.nc, u.c = nc, client.New(nc)
	return u, nil
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

// TestShippedNATSConfigGivesEachUserOnlyItsSubjects runs the whole bank on the shipped NATS
// configuration, each service as its own user, and checks that customers can use their own
// accounts and nothing of anyone else's.
func TestShippedNATSConfigGivesEachUserOnlyItsSubjects(t *testing.T) {
	s := secureNATS(t)
	b := newBank(t)
	b.env["NATS_URL"] = s.ClientURL()
	for _, name := range nodeNames {
		b.env["NATS_USER"], b.env["NATS_PASSWORD"] = "account", passwords["ACCOUNT_PASSWORD"]
		b.startNode(name)
	}
	b.env["NATS_USER"], b.env["NATS_PASSWORD"] = "coordinator", passwords["COORDINATOR_PASSWORD"]
	b.startCoordinator()
	b.env["NATS_USER"], b.env["NATS_PASSWORD"] = "history", passwords["HISTORY_PASSWORD"]
	b.startHistory()

	alice, err := connectAs(t, s, "alice", passwords["ALICE_PASSWORD"])
	if err != nil {
		t.Fatal(err)
	}
	bob, err := connectAs(t, s, "bob", passwords["BOB_PASSWORD"])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	t.Run("customers use their own accounts", func(t *testing.T) {
		events, err := alice.nc.SubscribeSync("bank.events.alice.>")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := alice.c.Open(ctx, "alice", contract.OpenRequest{ID: "o-1", Currency: "EUR", Node: "account-1"}); err != nil {
			t.Fatal(err)
		}
		if _, err := bob.c.Open(ctx, "bob", contract.OpenRequest{ID: "o-1", Currency: "EUR", Node: "account-2"}); err != nil {
			t.Fatal(err)
		}
		if _, err := alice.c.Deposit(ctx, "alice", contract.MoneyRequest{ID: "d-1", Amount: "50.00"}); err != nil {
			t.Fatal(err)
		}
		if tr, err := alice.c.Transfer(ctx, "alice", contract.TransferRequest{ID: "t-1", To: "bob", Amount: "20.00"}); err != nil || tr.Status != contract.TransferCommitted {
			t.Fatalf("alice pays bob: %+v, %v", tr, err)
		}
		if _, err := events.NextMsg(5 * time.Second); err != nil {
			t.Fatalf("alice sees no event of her own: %v", err)
		}
		if b, err := bob.c.Balance(ctx, "bob"); err != nil || b.Balance != "20.00" {
			t.Fatalf("bob's balance %+v, %v", b, err)
		}
		testkit.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
			var page contract.HistoryPage
			if err := alice.c.Call(ctx, contract.HistorySubject("alice", "query"), contract.HistoryQuery{}, &page); err != nil {
				return err
			}
			if len(page.Rows) != 2 {
				return fmt.Errorf("alice's history has %d rows", len(page.Rows))
			}
			return nil
		})
	})

	t.Run("customers are denied everything of anyone else's", func(t *testing.T) {
		for _, subject := range []string{
			"bank.account.bob.deposit", "bank.account.bob.withdraw", "bank.account.bob.balance", "bank.account.bob.close",
			"bank.transfer.bob", "bank.transfer.bob.status", "bank.history.bob.query", "bank.history.reconcile",
			"bank.accounts.list", "bank.node.account-2.account.bob.commit", "bank.coordinator.decision",
			"bank.transfers.resolve", "bank.events.alice.deposit", "$SRV.PING", "$JS.API.STREAM.DELETE.TSBANK_EVENTS",
		} {
			if err := alice.nc.Publish(subject, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			alice.wasDenied(t, "Publish", subject)
		}
		for _, subject := range []string{"bank.events.bob.>", "bank.events.>", "_INBOX.>", "_INBOX_bob.>", "bank.account.*.deposit"} {
			if _, err := alice.nc.SubscribeSync(subject); err != nil {
				t.Fatal(err)
			}
			alice.wasDenied(t, "Subscription", subject)
		}
		if b, err := bob.c.Balance(ctx, "bob"); err != nil || b.Balance != "20.00" {
			t.Fatalf("bob's balance changed: %+v, %v", b, err)
		}
	})

	t.Run("a wrong password is refused", func(t *testing.T) {
		_, err := connectAs(t, s, "alice", "guess")
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("connect with a wrong password: %v", err)
		}
	})

	t.Run("the operator sees the services", func(t *testing.T) {
		op, err := connectAs(t, s, "operator", passwords["OPERATOR_PASSWORD"])
		if err != nil {
			t.Fatal(err)
		}
		msg, err := op.nc.Request("$SRV.PING.coordinator", nil, 2*time.Second)
		if err != nil || !strings.Contains(string(msg.Data), "coordinator") {
			t.Fatalf("micro ping: %v", err)
		}
	})
}

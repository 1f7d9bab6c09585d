package server_test

import (
	"context"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/contract/decisionsig"
	"tsbank/services/account/server"
	"tsbank/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// harness is what this package's tests run against: a nats-server and account nodes, each on its
// own fresh database, as server.Start wires them, and a client of the bank's subjects. It runs
// no coordinator and no history: the whole bank is e2e's, and no test here needs it.
type harness struct {
	ns    *natsserver.Server
	nc    *nats.Conn
	c     *client.Client
	dbs   map[string]string // node name -> database URL
	nodes map[string]*server.Server
}

// startNodes starts the nodes names (account-1 and account-2 if none) on fresh databases.
func startNodes(t testing.TB, names ...string) *harness {
	t.Helper()
	return startNodesOn(t, testkit.Postgres, names...)
}

// startNodesOn is startNodes with the databases from postgres (testkit.Postgres or
// testkit.DurablePostgres).
func startNodesOn(t testing.TB, postgres func(testing.TB, string) string, names ...string) *harness {
	t.Helper()
	if len(names) == 0 {
		names = []string{"account-1", "account-2"}
	}
	b := newHarness(t)
	for _, name := range names {
		b.addNode(t, name, postgres(t, "account"))
	}
	return b
}

// newHarness starts NATS and its client, and no node. The tests here start real servers, so the
// fast tier (-short) skips them.
func newHarness(t testing.TB) *harness {
	t.Helper()
	if testing.Short() {
		t.Skip("starts NATS and PostgreSQL: the fast tier (-short) skips it")
	}
	b := &harness{ns: testkit.StartNATS(t), dbs: map[string]string{}, nodes: map[string]*server.Server{}}
	b.nc = testkit.Connect(t, b.ns)
	b.c = client.New(b.nc)
	return b
}

// addNode starts node name on the database at url with the test defaults, overridden by the
// variables in extra (name, value, name, value…).
func (b *harness) addNode(t testing.TB, name, url string, extra ...string) *server.Server {
	t.Helper()
	// No test here plays the coordinator, so any key will do; the e2e tests sign for real.
	_, coordinatorKey, err := decisionsig.Generate()
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"ACCOUNT_NODE": name, "DATABASE_URL": url, "NATS_URL": b.ns.ClientURL(),
		"HTTP_ADDR": "127.0.0.1:0", "OUTBOX_POLL": "100ms", "COORDINATOR_PUBLIC_KEYS": coordinatorKey,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		vars[extra[i]] = extra[i+1]
	}
	cfg, err := server.ConfigFromEnv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	n, err := server.Start(context.Background(), cfg, testkit.Logger(t))
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() { n.Stop(5 * time.Second) })
	b.dbs[name], b.nodes[name] = url, n
	return n
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func wantCode(t *testing.T, err error, code contract.Code) {
	t.Helper()
	if got := contract.CodeOf(err); got != code {
		t.Fatalf("error = %v, want code %s", err, code)
	}
}

func (b *harness) open(t testing.TB, id, nodeName string) contract.Account {
	t.Helper()
	a, err := b.c.Open(ctx(t), id, contract.OpenRequest{ID: "o-" + id, Currency: "EUR", Node: nodeName})
	if err != nil {
		t.Fatalf("open %s: %v", id, err)
	}
	return a
}

func (b *harness) deposit(t *testing.T, id, reqID, amount string) contract.Receipt {
	t.Helper()
	r, err := b.c.Deposit(ctx(t), id, contract.MoneyRequest{ID: reqID, Amount: amount})
	if err != nil {
		t.Fatalf("deposit %s into %s: %v", amount, id, err)
	}
	return r
}

func (b *harness) balance(t *testing.T, id string) contract.Balance {
	t.Helper()
	bal, err := b.c.Balance(ctx(t), id)
	if err != nil {
		t.Fatalf("balance %s: %v", id, err)
	}
	return bal
}

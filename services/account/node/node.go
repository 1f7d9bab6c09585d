package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/platform/idgen"
	"tsbank/platform/metrics"
	"tsbank/platform/natsconn"
	"tsbank/platform/ops"
	"tsbank/platform/service"
	"tsbank/services/account/account"
	"tsbank/services/account/natsapi"
	"tsbank/services/account/outbox"
	"tsbank/services/account/pgstore"
	"tsbank/services/account/registry"
	"tsbank/services/account/resolver"
)

// Node is a running account node.
type Node struct {
	log    *slog.Logger
	pool   *pgxpool.Pool
	nc     *nats.Conn
	svc    micro.Service
	instr  *service.Instr
	ops    *ops.Server
	cancel context.CancelFunc // stops the relay and the heartbeat
	wg     sync.WaitGroup
}

// Start connects to Postgres and NATS, makes sure the events stream and registry buckets exist,
// and starts serving. It returns once the node answers requests.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (_ *Node, err error) {
	n := &Node{log: log}
	defer func() {
		if err != nil {
			n.Stop(5 * time.Second)
		}
	}()
	poolCfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	poolCfg.MaxConns = int32(cfg.DBMaxConns)
	if n.pool, err = pgxpool.NewWithConfig(ctx, poolCfg); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := n.pool.Ping(ctx); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if n.nc, err = natsconn.Connect(cfg.NATSURL, "tsbank-account-"+cfg.Node, cfg.NATSUser, cfg.NATSPassword, log); err != nil {
		return nil, err
	}
	js, err := jetstream.New(n.nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, contract.EventsStreamConfig(cfg.Replicas)); err != nil {
		return nil, fmt.Errorf("stream %s: %w", contract.EventsStream, err)
	}
	reg, err := registry.Open(ctx, js, cfg.Replicas)
	if err != nil {
		return nil, err
	}
	nodes, err := registry.OpenNodes(ctx, js, cfg.Replicas)
	if err != nil {
		return nil, err
	}

	m := metrics.NewRegistry()
	published := m.Counter("tsbank_outbox_published_total", "Events the outbox relay published and JetStream acknowledged.").With()
	relay := outbox.NewRelay(n.pool, js, log, 256, cfg.OutboxPoll)
	relay.Published = func(k int) { published.Add(float64(k)) }
	m.GaugeFunc("tsbank_outbox_unsent", "Outbox rows not yet published.", func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var k int64
		if err := n.pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&k); err != nil {
			return -1
		}
		return float64(k)
	})
	store := pgstore.New(n.pool, cfg.Node)
	api := &natsapi.API{
		Node: cfg.Node, Registry: reg, Nodes: nodes, NC: n.nc, Log: log, Timeout: cfg.RequestTimeout,
		Service: &account.Service{
			Node: cfg.Node, Store: store, Registry: reg, Now: time.Now, NewID: idgen.UUIDv7, Changed: relay.Notify,
		},
	}
	bg, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	res := &resolver.Resolver{
		Service: api.Service, Client: client.New(n.nc), Log: log,
		Age: cfg.HoldMaxAge, Interval: cfg.HoldCheck, Timeout: cfg.RequestTimeout,
	}
	n.wg.Add(2)
	go func() { defer n.wg.Done(); relay.Run(bg) }()
	go func() { defer n.wg.Done(); res.Run(bg) }()

	if n.svc, err = micro.AddService(n.nc, micro.Config{
		Name:        "account",
		Version:     Version,
		Description: "TSBank account node " + cfg.Node + ": accounts, deposits, withdrawals, balances",
		Metadata:    map[string]string{"node": cfg.Node},
	}); err != nil {
		return nil, fmt.Errorf("micro service: %w", err)
	}
	// One bound across all endpoints: they share the database pool.
	n.instr = service.Instrument(m, "account").Async(n.nc, cfg.MaxInFlight)
	if err := api.AddEndpoints(n.svc, n.instr.Handler); err != nil {
		return nil, fmt.Errorf("endpoints: %w", err)
	}
	if err := nodes.Heartbeat(bg, contract.Node{Name: cfg.Node, Version: Version, StartedAt: time.Now().UTC()}); err != nil {
		return nil, err
	}
	n.ops = ops.NewServer(cfg.HTTPAddr, m, n.ready)
	if err := n.ops.Start(); err != nil {
		return nil, fmt.Errorf("http %s: %w", cfg.HTTPAddr, err)
	}
	log.Info("account node started", "node", cfg.Node, "http", n.ops.Addr())
	return n, nil
}

// HTTPAddr is the address the operations server listens on.
func (n *Node) HTTPAddr() string { return n.ops.Addr() }

func (n *Node) ready() error {
	if !n.nc.IsConnected() {
		return errors.New("not connected to NATS")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := n.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// Stop stops taking requests, lets those in flight finish, stops the relay and heartbeat, drains
// NATS and closes the pool, all within timeout.
func (n *Node) Stop(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if n.svc != nil {
		if err := n.svc.Stop(); err != nil {
			n.log.Warn("stop micro service", "err", err)
		}
	}
	if n.instr != nil {
		if err := n.instr.Shutdown(ctx); err != nil {
			n.log.Warn("requests in flight at shutdown", "err", err)
		}
	}
	if n.cancel != nil {
		n.cancel()
		n.wg.Wait()
	}
	if n.nc != nil {
		natsconn.Drain(ctx, n.nc)
	}
	if n.ops != nil {
		_ = n.ops.Shutdown(ctx)
	}
	if n.pool != nil {
		n.pool.Close()
	}
	n.log.Info("account node stopped")
}

// Run starts the node and serves until ctx ends.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	n, err := Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	<-ctx.Done()
	n.Stop(10 * time.Second)
	return nil
}

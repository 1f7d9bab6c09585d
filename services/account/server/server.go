package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/platform/idgen"
	"tsbank/platform/lease"
	"tsbank/platform/lifecycle"
	"tsbank/platform/natsconn"
	"tsbank/platform/service"
	"tsbank/services/account/account"
	"tsbank/services/account/natsapi"
	"tsbank/services/account/outbox"
	"tsbank/services/account/pgstore"
	"tsbank/services/account/registry"
	"tsbank/services/account/resolver"
	"tsbank/services/account/retention"
)

// Server is a running account node.
type Server struct {
	*lifecycle.Service
	lost chan error // receives the reason when the node's lease is lost
}

// Lost reports that this process lost the node's lease to another: it must stop, and may
// start again as a standby.
func (n *Server) Lost() <-chan error { return n.lost }

// Start connects to Postgres and NATS, binds the events stream and the registry buckets, and
// starts serving. It returns once the node answers requests.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (_ *Server, err error) {
	s, err := lifecycle.Open(ctx, "account", cfg.Config, log.With("node", cfg.Node))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.Stop(5 * time.Second)
		}
	}()
	var (
		js     jetstream.JetStream
		reg    *registry.Registry
		nodes  *registry.Nodes
		leases jetstream.KeyValue
	)
	// The stream and the buckets are provisioned by the operator (tsbankctl migrate); a node only
	// binds them, and waits, saying what to run, while one is missing.
	if err := natsconn.SetUp(ctx, log, func(ctx context.Context) (err error) {
		if js, err = jetstream.New(s.NC); err != nil {
			return err
		}
		if _, err = js.Stream(ctx, contract.EventsStream); err != nil {
			return fmt.Errorf("stream %s: %w", contract.EventsStream, err)
		}
		if reg, err = registry.Open(ctx, js); err != nil {
			return err
		}
		if nodes, err = registry.OpenNodes(ctx, js); err != nil {
			return err
		}
		if leases, err = js.KeyValue(ctx, contract.LeasesBucket); err != nil {
			return fmt.Errorf("bucket %s: %w", contract.LeasesBucket, err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	// Only the holder of the node's lease serves it; another process with the same ACCOUNT_NODE
	// waits here as a standby, and takes over when the lease expires.
	holder := cfg.Node + "/" + idgen.UUIDv7()
	log.Info("acquiring the node's lease", "node", cfg.Node, "holder", holder)
	held, err := lease.Acquire(ctx, leases, cfg.Node, holder, log)
	if err != nil {
		return nil, err
	}
	// Keep the lease from now on: taking the fence may wait for the previous holder's sessions to
	// be ended, and the lease must not expire meanwhile.
	n := &Server{Service: s, lost: make(chan error, 1)}
	s.Go(func(ctx context.Context) { held.Keep(ctx, func(err error) { n.lost <- err }) })
	store := pgstore.New(s.Pool, cfg.Node, outbox.Encode)
	if err := store.Fence(ctx, held.Epoch(), holder); err != nil {
		return nil, err
	}
	log.Info("holding the node's lease", "node", cfg.Node, "epoch", held.Epoch())

	m := promauto.With(s.Metrics)
	published := m.NewCounter(prometheus.CounterOpts{Name: "tsbank_outbox_published_total",
		Help: "Events the outbox relay published and JetStream acknowledged."})
	relay := outbox.NewRelay(s.Pool, js, log, cfg.Node, 256, cfg.OutboxPoll)
	relay.Published = func(k int) { published.Add(float64(k)) }
	m.NewGaugeFunc(prometheus.GaugeOpts{Name: "tsbank_outbox_unsent", Help: "Outbox rows not yet published."}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var k int64
		if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&k); err != nil {
			return -1
		}
		return float64(k)
	})
	svc := &account.Service{
		Node: cfg.Node, Store: store, Moves: store, Registry: reg, Now: time.Now, NewID: idgen.UUIDv7,
		Changed: relay.Notify,
	}
	api := &natsapi.API{Node: cfg.Node, Service: svc, Registry: reg, Nodes: nodes, NC: s.NC, Log: log, Timeout: cfg.RequestTimeout,
		Coordinators: cfg.Coordinators}
	res := &resolver.Resolver{
		Service: svc, Client: client.New(s.NC), Coordinators: cfg.Coordinators, Log: log,
		Age: cfg.HoldMaxAge, Interval: cfg.HoldCheck, Timeout: cfg.RequestTimeout,
	}
	pruned := m.NewCounter(prometheus.CounterOpts{Name: "tsbank_idempotency_pruned_total",
		Help: "Idempotency records deleted after IDEMPOTENCY_RETENTION."})
	pruner := &retention.Pruner{
		Store: store, Retention: cfg.Retention, Interval: cfg.PruneInterval, Batch: 10000, Log: log,
		Pruned: func(k int64) { pruned.Add(float64(k)) },
	}
	s.Go(relay.Run)
	s.Go(res.Run)
	s.Go(pruner.Run)

	// One bound across all endpoints: they share the database pool.
	if err := s.Serve(service.Config{
		Name:        "account",
		Version:     Version,
		Description: "TSBank account node " + cfg.Node + ": accounts, deposits, withdrawals, balances",
		Metadata:    map[string]string{"node": cfg.Node},
	}, cfg.MaxInFlight, api.AddEndpoints); err != nil {
		return nil, err
	}
	if err := nodes.Heartbeat(s.Background(), contract.Node{Name: cfg.Node, Version: Version, StartedAt: svc.Now().UTC(),
		Holder: holder, Epoch: held.Epoch()}); err != nil {
		return nil, err
	}
	return n, nil
}

// Run starts the node (waiting as a standby while another process holds its lease) and serves
// until ctx ends. When the lease is lost (another process took it, or it could not be renewed
// within its time to live, as when the bucket's JetStream leader crashed and its successor was
// elected later than that), the node stops serving at once and waits as a standby again, in this
// process: an outage of NATS costs a take-over, not a restart.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	for {
		n, err := Start(ctx, cfg, log)
		if err != nil && transient(err) && ctx.Err() == nil {
			// JetStream or Postgres could not answer at a step of the start (a leader election, a
			// database restart): try again, rather than exit and be restarted.
			log.Warn("the node could not start while NATS or Postgres was unavailable; trying again", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			continue
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			n.Stop(10 * time.Second)
			return nil
		case err := <-n.Lost():
			log.Error("the node's lease is lost: serving stops, and this process waits as a standby", "err", err)
			n.Stop(2 * time.Second)
		}
	}
}

// transient tells whether a start failed for a reason that passes by itself: JetStream without a
// leader for a while, a NATS connection closed under the start (seen in the compose test when a
// cluster member died just as a standby took the lease: the next start connects anew), or a
// connection to Postgres that could not be made or was cut.
func transient(err error) bool {
	var connect *pgconn.ConnectError
	return natsconn.Unavailable(err) || errors.Is(err, nats.ErrConnectionClosed) ||
		errors.As(err, &connect) || pgconn.SafeToRetry(err) || errors.Is(err, io.ErrUnexpectedEOF)
}

// Command devstack runs the whole bank on this machine without Docker: an embedded nats-server
// with JetStream, a throwaway PostgreSQL cluster (or databases on a server given by URL), the
// migrations, two account nodes, the transfer coordinator and the history service. It prints how to reach them with the nats CLI and psql.
// Ctrl-C stops everything and removes what it created.
//
// With -cluster, NATS is three servers routed together, and the events stream and the KV buckets
// are replicated on all three, so the bank goes on when one of them stops.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"tsbank/contract/decisionsig"
	"tsbank/migrations"
	"tsbank/platform/cli"
	"tsbank/platform/pgcluster"
	"tsbank/platform/provision"
	"tsbank/platform/tracing"
	account "tsbank/services/account/server"
	coordinator "tsbank/services/coordinator/server"
	history "tsbank/services/history/server"
	observer "tsbank/services/observer/server"
)

func main() {
	// Warnings and up by default: the guide it prints is the point; LOG_LEVEL says otherwise.
	level := slog.LevelWarn
	if v := os.Getenv("LOG_LEVEL"); v != "" {
		l, err := cli.ParseLevel(v)
		if err != nil {
			fmt.Fprintln(os.Stderr, "devstack:", err)
			os.Exit(1)
		}
		level = l
	}
	if err := run(cli.NewLogger(os.Stderr, level)); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

type options struct {
	natsPort, monitorPort, httpBase int
	postgresURL                     string
	nodes                           []string
	cluster                         bool   // three NATS servers instead of one
	observerAddr                    string // the Observer's page
}

func run(log *slog.Logger) error {
	var o options
	flag.IntVar(&o.natsPort, "nats-port", 4222, "NATS client port on 127.0.0.1 (-1: any free port)")
	flag.IntVar(&o.monitorPort, "monitor-port", 8222, "NATS monitoring port on 127.0.0.1 (-1: any free port)")
	flag.IntVar(&o.httpBase, "http-base", 8081, "first service's /metrics port; the next services take the ports after it (0: any free ports)")
	flag.BoolVar(&o.cluster, "cluster", false,
		"three NATS servers routed together, the stream and buckets replicated on each; they take -nats-port and -monitor-port and the two ports after each")
	flag.StringVar(&o.observerAddr, "observer", "127.0.0.1:8090", "the Observer's web page (127.0.0.1:0: any free port)")
	flag.StringVar(&o.postgresURL, "postgres", os.Getenv("TSBANK_POSTGRES_URL"),
		"admin URL of an existing PostgreSQL server (default: start a throwaway cluster); also TSBANK_POSTGRES_URL")
	flag.Parse()
	o.nodes = []string{"account-1", "account-2"}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// Every service runs in this process, so their spans share one provider, named devstack.
	tc, err := tracing.ReadConfig(os.Getenv)
	if err != nil {
		return err
	}
	shutdown, err := tracing.Setup(ctx, "devstack", tc)
	if err != nil {
		return err
	}
	defer func() {
		// A collector that is away must not hold up the stop: its spans are given 5 s.
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdown(fctx)
	}()
	s, err := startStack(ctx, o, log)
	if s != nil {
		defer s.stop()
	}
	if err != nil {
		return err
	}
	s.printGuide(o)
	<-ctx.Done()
	fmt.Println("\nstopping…")
	return nil
}

// stack is what devstack started, so that stop can undo it in reverse order.
type stack struct {
	storeDir  string           // every server's JetStream store, under one dir
	servers   []*server.Server // one, or three routed together
	pg        *pgcluster.Cluster
	databases map[string]string // service (node name or "coordinator") -> URL
	nodes     []*account.Server
	coord     *coordinator.Server
	// stopStandby and standby stop and wait for the first node's standby.
	stopStandby context.CancelFunc
	standby     sync.WaitGroup
	hist        *history.Server
	obs         *observer.Server
	log         *slog.Logger
}

func startStack(ctx context.Context, o options, log *slog.Logger) (*stack, error) {
	s := &stack{databases: map[string]string{}, log: log}
	var err error
	if s.storeDir, err = os.MkdirTemp("", "tsbank-devstack-nats-"); err != nil {
		return s, err
	}
	if o.cluster {
		err = s.startNATSCluster(o)
	} else {
		err = s.startNATS(o)
	}
	if err != nil {
		return s, err
	}
	natsURL := s.natsURL()
	// A fresh coordinator key for each run: the seed never leaves this process.
	seed, public, err := decisionsig.Generate()
	if err != nil {
		return s, err
	}
	// The provisioning step of a deployment: the stream, the buckets and the history's consumer,
	// replicated on every server (R3 on a cluster, R1 alone). No service creates them.
	if err := provision.At(ctx, natsURL, provision.Options{Replicas: len(s.servers), LeaseTTL: provision.Defaults.LeaseTTL}); err != nil {
		return s, err
	}

	if o.postgresURL != "" {
		s.pg = pgcluster.Existing(o.postgresURL)
	} else if s.pg, err = pgcluster.Start(ctx, ""); err != nil {
		return s, fmt.Errorf("postgres: %w", err)
	}
	for _, name := range append(append([]string{}, o.nodes...), "coordinator", "history") {
		url, err := s.pg.CreateDatabase(ctx, "tsbank_"+underscore(name))
		if err != nil {
			return s, fmt.Errorf("%w (drop it, or point -postgres at another server)", err)
		}
		s.databases[name] = url
		kind := name
		if !slices.Contains(migrations.Databases, kind) {
			kind = "account"
		}
		if err := migrations.Up(kind, url); err != nil {
			return s, err
		}
	}
	for i, name := range o.nodes {
		cfg, err := account.ConfigFromEnv(func(k string) string {
			return map[string]string{
				"ACCOUNT_NODE": name, "DATABASE_URL": s.databases[name], "NATS_URL": natsURL,
				"HTTP_ADDR": httpAddr(o.httpBase, i), "COORDINATOR_PUBLIC_KEYS": public,
			}[k]
		})
		if err != nil {
			return s, err
		}
		n, err := account.Start(ctx, cfg, log.With("node", name))
		if err != nil {
			return s, fmt.Errorf("%s: %w", name, err)
		}
		s.nodes = append(s.nodes, n)
	}
	// A standby process for the first node over its database: it waits for the node's lease.
	standby, err := account.ConfigFromEnv(func(k string) string {
		return map[string]string{
			"ACCOUNT_NODE": o.nodes[0], "DATABASE_URL": s.databases[o.nodes[0]], "NATS_URL": natsURL,
			"HTTP_ADDR": httpAddr(o.httpBase, len(o.nodes)+2), "COORDINATOR_PUBLIC_KEYS": public,
		}[k]
	})
	if err != nil {
		return s, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	s.stopStandby = cancel
	s.standby.Add(1)
	go func() {
		defer s.standby.Done()
		for sctx.Err() == nil { // after a take-over and a lost lease, it waits again
			if err := account.Run(sctx, standby, log.With("node", o.nodes[0], "standby", true)); err != nil && sctx.Err() == nil {
				log.Warn("standby", "err", err)
			}
		}
	}()
	cfg, err := coordinator.ConfigFromEnv(func(k string) string {
		return map[string]string{
			"DATABASE_URL": s.databases["coordinator"], "NATS_URL": natsURL,
			"HTTP_ADDR": httpAddr(o.httpBase, len(o.nodes)), "COORDINATOR_SIGNING_KEY": seed,
		}[k]
	})
	if err != nil {
		return s, err
	}
	if s.coord, err = coordinator.Start(ctx, cfg, log.With("service", "coordinator")); err != nil {
		return s, fmt.Errorf("coordinator: %w", err)
	}
	hcfg, err := history.ConfigFromEnv(func(k string) string {
		return map[string]string{
			"DATABASE_URL": s.databases["history"], "NATS_URL": natsURL,
			"HTTP_ADDR": httpAddr(o.httpBase, len(o.nodes)+1),
		}[k]
	})
	if err != nil {
		return s, err
	}
	if s.hist, err = history.Start(ctx, hcfg, log.With("service", "history")); err != nil {
		return s, fmt.Errorf("history: %w", err)
	}
	scrape := []string{"coordinator=http://" + s.coord.HTTPAddr(), "history=http://" + s.hist.HTTPAddr()}
	for i, n := range s.nodes {
		scrape = append(scrape, o.nodes[i]+"=http://"+n.HTTPAddr())
	}
	var monitors []string
	for _, ns := range s.servers {
		monitors = append(monitors, "http://"+ns.MonitorAddr().String())
	}
	ocfg, err := observer.ConfigFromEnv(func(k string) string {
		return map[string]string{
			"NATS_URL": natsURL, "HTTP_ADDR": httpAddr(o.httpBase, len(o.nodes)+3), "OBSERVER_ADDR": o.observerAddr,
			"OBSERVER_SCRAPE": strings.Join(scrape, ","), "NATS_MONITOR_URLS": strings.Join(monitors, ","),
		}[k]
	})
	if err != nil {
		return s, err
	}
	if s.obs, err = observer.Start(ctx, ocfg, log.With("service", "observer")); err != nil {
		return s, fmt.Errorf("observer: %w", err)
	}
	return s, nil
}

// startNATS runs one nats-server with JetStream.
func (s *stack) startNATS(o options) error {
	ns, err := server.NewServer(&server.Options{
		ServerName: "devstack", Host: "127.0.0.1", Port: o.natsPort, HTTPHost: "127.0.0.1", HTTPPort: o.monitorPort,
		JetStream: true, StoreDir: s.storeDir, SyncAlways: true, // as the shipped config: sync_interval always
		NoSigs: true,
	})
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	s.servers = append(s.servers, ns)
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		return fmt.Errorf("nats did not start on port %d (in use?)", o.natsPort)
	}
	return nil
}

// startNATSCluster runs three nats-servers, n1 to n3, routed together as cluster "tsbank", on the
// client and monitoring ports after o's, and returns once JetStream has a meta leader, so that
// the services can create their R3 stream and buckets at once.
func (s *stack) startNATSCluster(o options) error {
	// A clustered server is not ready until it has met its peers, so every route must be known
	// before the first one starts: take three free ports for them.
	var routes []*url.URL
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("nats route port: %w", err)
		}
		routes = append(routes, &url.URL{Scheme: "nats", Host: l.Addr().String()})
		l.Close()
	}
	for i, r := range routes {
		name := fmt.Sprintf("n%d", i+1)
		routePort, _ := strconv.Atoi(r.Port())
		ns, err := server.NewServer(&server.Options{
			ServerName: name, Host: "127.0.0.1", Port: nextPort(o.natsPort, i),
			HTTPHost: "127.0.0.1", HTTPPort: nextPort(o.monitorPort, i),
			JetStream: true, StoreDir: filepath.Join(s.storeDir, name), SyncAlways: true,
			Cluster: server.ClusterOpts{Name: "tsbank", Host: "127.0.0.1", Port: routePort},
			Routes:  routes,
			NoSigs:  true,
		})
		if err != nil {
			return fmt.Errorf("nats %s: %w", name, err)
		}
		s.servers = append(s.servers, ns)
		go ns.Start()
	}
	for i, ns := range s.servers {
		if !ns.ReadyForConnections(10 * time.Second) {
			return fmt.Errorf("nats %s did not start on port %d (in use?)", ns.Name(), nextPort(o.natsPort, i))
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for !slices.ContainsFunc(s.servers, (*server.Server).JetStreamIsLeader) {
		if time.Now().After(deadline) {
			return errors.New("nats cluster: no JetStream meta leader after 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// nextPort is the i-th of the ports from base: base+i, or base itself when it means any free
// port (-1) or none (0).
func nextPort(base, i int) int {
	if base <= 0 {
		return base
	}
	return base + i
}

// natsURL is every server's client URL, comma-separated, as NATS_URL takes them.
func (s *stack) natsURL() string {
	var urls []string
	for _, ns := range s.servers {
		urls = append(urls, ns.ClientURL())
	}
	return strings.Join(urls, ",")
}

// httpAddr is the operations address of the i-th service: base+i, or any free port if base is 0.
func httpAddr(base, i int) string {
	if base == 0 {
		return "127.0.0.1:0"
	}
	return fmt.Sprintf("127.0.0.1:%d", base+i)
}

func (s *stack) stop() {
	if s.stopStandby != nil {
		s.stopStandby()
		s.standby.Wait()
	}
	if s.obs != nil {
		s.obs.Stop(5 * time.Second)
	}
	if s.hist != nil {
		s.hist.Stop(5 * time.Second)
	}
	if s.coord != nil {
		s.coord.Stop(5 * time.Second)
	}
	for _, n := range s.nodes {
		n.Stop(5 * time.Second)
	}
	if s.pg != nil {
		if s.pg.Started() {
			_ = s.pg.Stop() // removes the cluster and its databases
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			for name := range s.databases {
				if err := s.pg.DropDatabase(ctx, "tsbank_"+underscore(name)); err != nil {
					s.log.Warn("drop database", "err", err)
				}
			}
			cancel()
		}
	}
	for _, ns := range s.servers {
		ns.Shutdown() // also when a test shut it down already
		ns.WaitForShutdown()
	}
	if err := os.RemoveAll(s.storeDir); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("remove nats store", "err", err)
	}
}

func underscore(name string) string {
	b := []byte(name)
	for i, c := range b {
		if c == '-' {
			b[i] = '_'
		}
	}
	return string(b)
}

func (s *stack) printGuide(o options) {
	fmt.Print("TSBank devstack is running. Ctrl-C stops it and removes everything it created.\n\n")
	if len(s.servers) == 1 {
		fmt.Printf("NATS     %s  (monitoring http://%s)\n", s.servers[0].ClientURL(), s.servers[0].MonitorAddr())
	} else {
		fmt.Printf("NATS     cluster \"tsbank\" of %d servers; the events stream and the buckets have %[1]d replicas\n", len(s.servers))
		for _, ns := range s.servers {
			fmt.Printf("  %-6s %s  (monitoring http://%s)\n", ns.Name(), ns.ClientURL(), ns.MonitorAddr())
		}
		fmt.Printf("  give clients every URL, so that they reconnect to another server: nats --server %s …\n", s.natsURL())
	}
	for i, name := range o.nodes {
		fmt.Printf("%-11s psql %q   metrics http://%s/metrics\n", name, s.databases[name], s.nodes[i].HTTPAddr())
	}
	fmt.Printf("%-11s (a standby for %s, waiting for its lease)\n", "", o.nodes[0])
	fmt.Printf("%-11s psql %q   metrics http://%s/metrics\n", "coordinator", s.databases["coordinator"], s.coord.HTTPAddr())
	fmt.Printf("%-11s psql %q   metrics http://%s/metrics\n", "history", s.databases["history"], s.hist.HTTPAddr())
	fmt.Printf("%-11s http://%s   (the whole bank, live; bank.overview as JSON)\n", "observer", s.obs.PageAddr())
	fmt.Print(`
Try:
  nats micro ls
  nats req bank.account.alice.open    '{"id":"o-1","currency":"EUR","node":"account-1"}'
  nats req bank.account.bob.open      '{"id":"o-1","currency":"EUR","node":"account-2"}'
  nats req bank.account.alice.deposit '{"id":"d-1","amount":"100.00","description":"salary"}'
  nats req bank.account.alice.balance ''
  nats req bank.account.bob.whereis   ''
  nats req bank.transfer.alice        '{"id":"t-1","to":"bob","amount":"25.00"}'
  nats req bank.transfer.alice.status '{"id":"t-1"}'
  nats req bank.history.alice.query   '{"format":"table"}'
  nats req bank.accounts.list         ''
  nats kv get tsbank_accounts alice
  nats sub 'bank.events.>'
`)
}

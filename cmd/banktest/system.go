package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"tsbank/contract/decisionsig"
	"tsbank/migrations"
	"tsbank/platform/idgen"
	"tsbank/platform/natsconf"
	"tsbank/platform/pgcluster"
	"tsbank/platform/provision"
)

// proc is one process of the system under test, which the nemesis may kill, pause or restart.
type proc struct {
	name     string
	bin      string
	args     []string
	env      []string
	httpAddr string // its /readyz (services) or monitoring address (nats)
	readyz   string
	logPath  string
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
}

func (p *proc) start() error {
	log, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Env = append(os.Environ(), p.env...)
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.done = done
	go func(cmd *exec.Cmd) { _ = cmd.Wait(); log.Close(); close(done) }(p.cmd)
	return nil
}

func (p *proc) signal(sig syscall.Signal) {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(sig)
	}
}

// kill sends SIGKILL and waits until the process is gone.
func (p *proc) kill() {
	if p.done == nil {
		return
	}
	p.signal(syscall.SIGKILL)
	<-p.done
}

func (p *proc) alive() bool {
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// ready waits until the process answers 200 on its readiness path.
func (p *proc) ready(total time.Duration) error {
	deadline := time.Now().Add(total)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + p.httpAddr + p.readyz)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s (log: %s)", p.name, total, p.logPath)
}

// system is the bank under test: Postgres behind a proxy (a restart changes its port), three
// nats-servers as a cluster, and the services as processes, each reaching NATS through proxies of
// its own so that it can be partitioned alone.
type system struct {
	dir      string
	pgDir    string
	pg       *pgcluster.Cluster
	pgProxy  *proxy
	dbs      map[string]string
	nats     []*proc
	natsURLs []string
	procs    map[string]*proc
	proxies  map[string][]*proxy // service -> its proxies to the three nats-servers
	// held are listeners that keep the ports freePort chose until releasePorts, just before the
	// processes that bind them start: released at once, the kernel handed the same port to a
	// proxy made later, and a node could never start ("address already in use").
	held []net.Listener
	// seed and public are the coordinator's signing key, fresh for each run, and its public key,
	// which the nodes trust.
	seed, public string
	// passwords of the NATS users of the shipped configuration, fresh for each run: the servers
	// run deploy/nats/nats.conf's accounts and permissions, and every service logs in as its own
	// user, so the faults are injected into the bank as it is deployed.
	passwords map[string]string
}

// natsUsers are the users of the NATS configuration; customers are not among them.
var natsUsers = []string{"account-1", "account-2", natsconf.UserCoordinator, natsconf.UserHistory, natsconf.UserCustomers, natsconf.UserObserver,
	natsconf.UserOperator, natsconf.UserAuth, natsconf.UserSystem}

// operator is the operator's login, for the workload, the checker and provisioning.
func (s *system) operator() nats.Option {
	return nats.UserInfo(natsconf.UserOperator, s.passwords[natsconf.UserOperator])
}

// serviceNames lists the service processes: account-1 runs twice (an active and a standby).
var serviceNames = []string{"account-1", "account-1b", "account-2", "coordinator", "history"}

// freePort picks a free port of 127.0.0.1 and holds it until releasePorts.
func (s *system) freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	s.held = append(s.held, l)
	return l.Addr().(*net.TCPAddr).Port, nil
}

// releasePorts frees the ports freePort holds, for the processes about to bind them.
func (s *system) releasePorts() {
	for _, l := range s.held {
		l.Close()
	}
	s.held = nil
}

func startSystem(ctx context.Context, dir string) (*system, error) {
	s := &system{dir: dir, dbs: map[string]string{}, procs: map[string]*proc{}, proxies: map[string][]*proxy{},
		passwords: map[string]string{}}
	for _, u := range natsUsers {
		s.passwords[u] = "pw-" + idgen.UUIDv7()
	}
	var err error
	if s.seed, s.public, err = decisionsig.Generate(); err != nil {
		return s, err
	}
	bins := filepath.Join(dir, "bin")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bins+"/", "tsbank/services/account/cmd/account",
		"tsbank/services/coordinator/cmd/coordinator", "tsbank/services/history/cmd/history", "tsbank/cmd/natsd").CombinedOutput()
	if err != nil {
		return s, fmt.Errorf("go build: %v\n%s", err, out)
	}

	// Postgres in a named dir, so an immediate stop can be followed by a start on the same data,
	// and durable, since the nemesis crashes it.
	s.pgDir = filepath.Join(os.TempDir(), filepath.Base(dir)+"-pg")
	if s.pg, err = pgcluster.StartDurable(ctx, s.pgDir); err != nil {
		return s, err
	}
	if s.pgProxy, err = newProxy(hostPort(s.pg.AdminURL())); err != nil {
		return s, err
	}
	for _, db := range []string{"account_1", "account_2", "coordinator", "history"} {
		url, err := s.pg.CreateDatabase(ctx, "tsbank_"+db)
		if err != nil {
			return s, err
		}
		url = strings.Replace(url, hostPort(url), s.pgProxy.addr(), 1)
		kind := db
		if strings.HasPrefix(db, "account") {
			kind = "account"
		}
		if err := migrations.Up(kind, url); err != nil {
			return s, err
		}
		s.dbs[db] = url
	}

	if err := s.startNATS(bins); err != nil {
		return s, err
	}
	// The deployment's provisioning step: R3 stream, buckets and consumer; a 3 s lease.
	pctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := provision.At(pctx, strings.Join(s.natsURLs, ","), provision.Options{Replicas: 3, LeaseTTL: 3 * time.Second}, s.operator()); err != nil {
		return s, err
	}
	for _, name := range serviceNames {
		if err := s.addService(bins, name); err != nil {
			return s, err
		}
	}
	s.releasePorts()
	// A service that fails at start (JetStream, fsyncing every write, can be slow to create the
	// R3 stream and buckets while the cluster is new) is started again, as a restart policy would.
	// account-1 and account-1b race for the node's lease: either may serve.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		waiting := ""
		for _, name := range serviceNames {
			if !s.procs[name].alive() {
				if err := s.procs[name].start(); err != nil {
					return s, err
				}
			}
		}
		for _, name := range []string{"account-2", "coordinator", "history"} {
			if s.procs[name].ready(10*time.Millisecond) != nil {
				waiting = name
			}
		}
		if s.procs["account-1"].ready(10*time.Millisecond) != nil && s.procs["account-1b"].ready(10*time.Millisecond) != nil {
			waiting = "account-1"
		}
		if waiting == "" {
			return s, nil
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("%s not ready after 2 minutes (logs in %s)", waiting, s.dir)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func hostPort(url string) string {
	rest := url[strings.Index(url, "@")+1:]
	return rest[:strings.IndexAny(rest, "/?")]
}

func (s *system) startNATS(bins string) error {
	type ports struct{ client, route, monitor int }
	var ps []ports
	for range 3 {
		var p ports
		for _, v := range []*int{&p.client, &p.route, &p.monitor} {
			port, err := s.freePort()
			if err != nil {
				return err
			}
			*v = port
		}
		ps = append(ps, p)
	}
	issuer, err := nkeys.CreateAccount()
	if err != nil {
		return err
	}
	issuerKey, _ := issuer.PublicKey()
	natsEnv := []string{"AUTH_ISSUER_PUBLIC_KEY=" + issuerKey}
	for _, u := range natsUsers {
		natsEnv = append(natsEnv, natsconf.PasswordVar(u)+"="+s.passwords[u])
	}
	for i, p := range ps {
		var routes []string
		for j, q := range ps {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", q.route))
			}
		}
		// The shipped configuration (its accounts, users and permissions), then this server's own
		// name, ports, store and routes: a key set later replaces the one before.
		conf := natsconf.Render(natsconf.Options{Nodes: []string{"account-1", "account-2"}}) + fmt.Sprintf(`
server_name: n%d
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
jetstream { store_dir: %q, sync_interval: always }
cluster { name: tsbank, listen: 127.0.0.1:%d, no_advertise: true, routes: [%s] }
`, i+1, p.client, p.monitor, filepath.Join(s.dir, fmt.Sprintf("nats-%d", i+1)), p.route, strings.Join(routes, ", "))
		path := filepath.Join(s.dir, fmt.Sprintf("nats-%d.conf", i+1))
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			return err
		}
		if i == 0 {
			s.releasePorts() // every server's ports are chosen: the first starts now
		}
		// No /metrics: the three servers share this host, and would all want natsd's :7777.
		n := &proc{name: fmt.Sprintf("nats-%d", i+1), bin: filepath.Join(bins, "natsd"), args: []string{"-c", path, "-metrics", ""}, env: natsEnv,
			httpAddr: fmt.Sprintf("127.0.0.1:%d", p.monitor), readyz: "/healthz", // JetStream current, with a meta leader
			logPath: filepath.Join(s.dir, fmt.Sprintf("nats-%d.log", i+1))}
		if err := n.start(); err != nil {
			return err
		}
		s.nats = append(s.nats, n)
		s.natsURLs = append(s.natsURLs, fmt.Sprintf("nats://127.0.0.1:%d", p.client))
	}
	for _, n := range s.nats {
		if err := n.ready(60 * time.Second); err != nil {
			return err
		}
	}
	return nil
}

// timeouts are short, so that recovery happens within a run.
var timeouts = []string{
	"PREPARE_TIMEOUT=1s", "SEND_TIMEOUT=1s", "MAX_BACKOFF=2s", "RECOVER_INTERVAL=200ms",
	"HOLD_MAX_AGE=3s", "HOLD_CHECK_INTERVAL=500ms", "OUTBOX_POLL=200ms",
}

func (s *system) addService(bins, name string) error {
	var urls []string
	for _, u := range s.natsURLs {
		p, err := newProxy(strings.TrimPrefix(u, "nats://"))
		if err != nil {
			return err
		}
		s.proxies[name] = append(s.proxies[name], p)
		urls = append(urls, "nats://"+p.addr())
	}
	port, err := s.freePort()
	if err != nil {
		return err
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", port)
	env := append([]string{"NATS_URL=" + strings.Join(urls, ","), "HTTP_ADDR=" + httpAddr}, timeouts...)
	user := name
	if name == "account-1b" {
		user = "account-1"
	}
	env = append(env, "NATS_USER="+user, "NATS_PASSWORD="+s.passwords[user])
	bin := name
	switch name {
	case "account-1", "account-1b":
		bin, env = "account", append(env, "ACCOUNT_NODE=account-1", "DATABASE_URL="+s.dbs["account_1"], "REQUEST_TIMEOUT=2s",
			"COORDINATOR_PUBLIC_KEYS="+s.public)
	case "account-2":
		bin, env = "account", append(env, "ACCOUNT_NODE=account-2", "DATABASE_URL="+s.dbs["account_2"], "REQUEST_TIMEOUT=2s",
			"COORDINATOR_PUBLIC_KEYS="+s.public)
	case "coordinator":
		env = append(env, "DATABASE_URL="+s.dbs[name], "REQUEST_TIMEOUT=5s", "COORDINATOR_SIGNING_KEY="+s.seed)
	default:
		env = append(env, "DATABASE_URL="+s.dbs[name], "REQUEST_TIMEOUT=5s")
	}
	s.procs[name] = &proc{name: name, bin: filepath.Join(bins, bin), env: env, httpAddr: httpAddr, readyz: "/readyz",
		logPath: filepath.Join(s.dir, name+".log")}
	return nil
}

// crashPostgres stops Postgres immediately and starts it again on the same data after down.
func (s *system) crashPostgres(ctx context.Context, down time.Duration) error {
	if err := s.pg.Crash(); err != nil {
		return err
	}
	time.Sleep(down)
	pg, err := pgcluster.StartDurable(ctx, s.pgDir)
	if err != nil {
		return err
	}
	s.pg = pg
	s.pgProxy.setTarget(hostPort(pg.AdminURL()))
	return nil
}

// ensurePostgres starts Postgres again if it does not answer (a crash whose restart failed).
func (s *system) ensurePostgres(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(pctx, s.pg.AdminURL())
	if err == nil {
		return conn.Close(ctx)
	}
	_ = s.pg.Crash()
	pg, err := pgcluster.StartDurable(ctx, s.pgDir)
	if err != nil {
		return fmt.Errorf("restart postgres: %w", err)
	}
	s.pg = pg
	s.pgProxy.setTarget(hostPort(pg.AdminURL()))
	return nil
}

func (s *system) stop() {
	for _, p := range s.procs {
		p.signal(syscall.SIGCONT)
		p.signal(syscall.SIGTERM)
	}
	for _, p := range s.procs {
		for i := 0; i < 100 && p.alive(); i++ {
			time.Sleep(50 * time.Millisecond)
		}
		p.kill()
	}
	for _, n := range s.nats {
		n.signal(syscall.SIGCONT)
		n.kill()
	}
	if s.pg != nil {
		_ = s.pg.Stop()
	}
	_ = os.RemoveAll(s.pgDir)
}

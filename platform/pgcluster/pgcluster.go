// Package pgcluster runs a throwaway PostgreSQL cluster from the local binaries (initdb and
// postgres), for tests and for the local development stack, or wraps an existing server.
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a PostgreSQL server for tests and local development: either a throwaway cluster
// started from the local PostgreSQL binaries by Start, or an existing server named by
// an admin URL (see Postgres). It needs no testing.TB, so a dev command can use it too.
type Cluster struct {
	adminURL string
	// Durable keeps every commit across a crash of the server (synchronous_commit and fsync on);
	// see StartDurable.
	Durable bool

	// The rest is set only for a cluster this process started.
	dir    string // holds data/, postgres.log and the Unix socket
	temp   bool   // dir was made by Start, so Stop removes it
	cmd    *exec.Cmd
	exited chan struct{} // closed when postgres has exited
	err    error         // from cmd.Wait, readable once exited is closed
}

// Start initializes a cluster in dir (unless dir already holds one) and runs postgres
// on a free port of 127.0.0.1, returning once it accepts connections. If dir is "", the
// cluster lives in a new temp dir that Stop removes; a named dir is kept, so a dev command can
// restart the same cluster. Connections need no password (trust authentication).
//
// Postgres refuses to run as root, so when the process is root the cluster runs as the
// `postgres` system user, and dir (and every directory above it) must be reachable by that user.
func Start(ctx context.Context, dir string) (*Cluster, error) {
	return start(ctx, dir, false)
}

// StartDurable is Start with the server's own durability settings, for a test that crashes the
// server: with synchronous_commit off, a commit acknowledged just before an immediate stop can be
// lost, which is Postgres keeping its word, not the application losing money.
func StartDurable(ctx context.Context, dir string) (*Cluster, error) {
	return start(ctx, dir, true)
}

func start(ctx context.Context, dir string, durable bool) (*Cluster, error) {
	bin, err := findBinDir()
	if err != nil {
		return nil, err
	}
	owner, err := clusterOwner()
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, Durable: durable}
	if dir == "" {
		parent := os.TempDir()
		if owner != nil {
			// TMPDIR may point under root's home, which the postgres user cannot enter.
			parent = "/tmp"
		}
		if c.dir, err = os.MkdirTemp(parent, "tsbank-pg-"); err != nil {
			return nil, fmt.Errorf("postgres cluster dir: %w", err)
		}
		c.temp = true
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("postgres cluster dir: %w", err)
	}
	if err := c.start(ctx, bin, owner); err != nil {
		if c.temp {
			os.RemoveAll(c.dir)
		}
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context, bin string, owner *syscall.Credential) error {
	if owner != nil {
		if err := os.Chown(c.dir, int(owner.Uid), int(owner.Gid)); err != nil {
			return fmt.Errorf("postgres cluster dir: %w", err)
		}
	}
	data := filepath.Join(c.dir, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, fs.ErrNotExist) {
		initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data,
			"-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C")
		initdb.Dir = c.dir
		initdb.SysProcAttr = &syscall.SysProcAttr{Credential: owner}
		if out, err := initdb.CombinedOutput(); err != nil {
			return fmt.Errorf("initdb: %w\n%s", err, out)
		}
	}

	port, err := freePort()
	if err != nil {
		return err
	}
	logPath := filepath.Join(c.dir, "postgres.log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("postgres log: %w", err)
	}
	defer log.Close() // postgres has its own copy once started
	// postgres is run directly rather than through pg_ctl so that it stays our child and the
	// kernel can stop it if this process dies (Pdeathsig below).
	args := []string{"-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + c.dir,
		// Parallel tests each open a pool against their own database.
		"-c", "max_connections=300",
		// Benchmarks count the statements of each database (testkit.Costs).
		"-c", "shared_preload_libraries=pg_stat_statements",
	}
	if !c.Durable {
		// A cluster for tests and development need not survive a crash, so trade durability
		// for speed; the shipped deployment does not use these settings.
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), args...)
	c.cmd.Dir = c.dir
	c.cmd.Stdout, c.cmd.Stderr = log, log
	c.cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: owner,
		// If the test binary crashes or is killed, postgres gets SIGQUIT (immediate shutdown)
		// instead of running on forever.
		Pdeathsig: syscall.SIGQUIT,
	}
	c.exited = make(chan struct{})
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that started the child exits, not the process.
		// Locking this goroutine to its thread until postgres exits keeps that thread alive.
		runtime.LockOSThread()
		if err := c.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}

	c.adminURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	for {
		conn, err := pgx.Connect(ctx, c.adminURL)
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-c.exited:
			out, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres exited (%v):\n%s", c.err, out)
		case <-ctx.Done():
			c.cmd.Process.Kill()
			<-c.exited
			return fmt.Errorf("postgres not ready: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// AdminURL is the URL of the server's `postgres` database, as the superuser.
func (c *Cluster) AdminURL() string { return c.adminURL }

// Existing wraps a server this process did not start, named by the URL of a database on it that
// a superuser can use to create and drop databases.
func Existing(adminURL string) *Cluster { return &Cluster{adminURL: adminURL} }

// Started reports whether this process started the cluster (and so Stop stops it).
func (c *Cluster) Started() bool { return c.cmd != nil }

// CreateDatabase creates an empty database and returns its URL.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) (string, error) {
	return c.CreateFromTemplate(ctx, name, "")
}

// CreateFromTemplate creates a database as a copy of template, or of Postgres's default template
// if template is "". Postgres refuses the copy while anyone is connected to template.
func (c *Cluster) CreateFromTemplate(ctx context.Context, name, template string) (string, error) {
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if err := c.exec(ctx, sql); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return c.DatabaseURL(name)
}

// DropDatabase drops a database, ending any sessions still connected to it (a pool a test
// forgot to close must not make the cleanup fail).
func (c *Cluster) DropDatabase(ctx context.Context, name string) error {
	if err := c.exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

func (c *Cluster) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, c.adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

// DatabaseURL is the URL of database name on the server: the admin URL with its database replaced.
func (c *Cluster) DatabaseURL(name string) (string, error) {
	u, err := url.Parse(c.adminURL)
	if err != nil {
		return "", fmt.Errorf("postgres admin URL: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// Stop stops a cluster started by Start and removes its dir if Start made it.
// It does nothing to a server this process did not start. Calling it again does nothing.
func (c *Cluster) Stop() error {
	if c.cmd == nil || c.cmd.Process == nil {
		return nil
	}
	// A kept cluster gets a fast shutdown so its next start needs no crash recovery;
	// a temp one is about to be deleted, so an immediate one is enough.
	sig := syscall.SIGINT
	if c.temp {
		sig = syscall.SIGQUIT
	}
	if err := c.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop postgres: %w", err)
	}
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
	}
	if c.temp {
		if err := os.RemoveAll(c.dir); err != nil {
			return fmt.Errorf("remove postgres cluster dir: %w", err)
		}
	}
	return nil
}

// Crash stops the server the way a crash would (SIGQUIT: an immediate shutdown, with crash
// recovery at the next start), keeping its dir, so that Start on the same dir brings it back.
func (c *Cluster) Crash() error {
	if c.cmd == nil || c.cmd.Process == nil {
		return nil
	}
	if err := c.cmd.Process.Signal(syscall.SIGQUIT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("crash postgres: %w", err)
	}
	<-c.exited
	return nil
}

// findBinDir finds a directory holding both initdb and postgres: the one initdb in PATH
// links to, or else the newest /usr/lib/postgresql/<version>/bin (Debian keeps them there,
// off PATH).
func findBinDir() (string, error) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if p, err := filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(p))
		}
	}
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	major := func(dir string) int {
		v := filepath.Base(filepath.Dir(dir))
		n, _ := strconv.Atoi(strings.Split(v, ".")[0])
		return n
	}
	slices.SortFunc(versions, func(a, b string) int { return major(b) - major(a) })
	dirs = append(dirs, versions...)
	for _, dir := range dirs {
		if isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	return "", errors.New("no initdb and postgres in PATH or /usr/lib/postgresql/*/bin: " +
		"install PostgreSQL (apt-get install -y postgresql) or use an existing server")
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// clusterOwner returns the credentials to run Postgres with: nil normally, the `postgres`
// system user's when this process is root, as Postgres refuses to run as root.
func clusterOwner() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, so Postgres must run as the postgres user: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("uid of postgres user: %w", err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("gid of postgres user: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// freePort asks the kernel for a free port. Another process could take it before postgres
// binds it; that race is rare enough for tests, and shows up as a clear startup error.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

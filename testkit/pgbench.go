package testkit

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

var pgbenchTPS = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// PgBench runs one of pgbench's built-in scripts (tpcb-like, simple-update, …) with clients
// connections for seconds on DurablePostgres's server, the one the benchmarks' banks use, and
// returns its tps, or 0 if pgbench is not installed. The database is initialized at scale once
// per test binary and reused: a benchmark that compares at 64 clients should pass scale 64, as
// at scale 1 every tpcb-like client queues on the one branch row and the bar is set too low.
func PgBench(t testing.TB, script string, clients, scale, seconds int) float64 {
	t.Helper()
	bin := pgbenchBin()
	if bin == "" {
		t.Log("pgbench not found: no comparison")
		return 0
	}
	url := durableServer.pgbenchDatabase(t, bin, scale)
	out, err := exec.Command(bin, "-n", "-b", script, "-c", strconv.Itoa(clients), "-j", strconv.Itoa(min(clients, 2)),
		"-T", strconv.Itoa(max(seconds, 1)), url).CombinedOutput()
	if err != nil {
		t.Fatalf("pgbench: %v\n%s", err, out)
	}
	m := pgbenchTPS.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no tps in pgbench output:\n%s", out)
	}
	tps, _ := strconv.ParseFloat(string(m[1]), 64)
	return tps
}

// pgbenchBin finds pgbench in PATH or beside Debian's server binaries, or returns "".
func pgbenchBin() string {
	if bin, err := exec.LookPath("pgbench"); err == nil {
		return bin
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	if len(found) == 0 {
		return ""
	}
	return found[len(found)-1]
}

// pgbenchDatabase returns the URL of the database initialized by pgbench -i at scale, making it
// the first time. It lives as long as the server's templates.
func (s *pgServer) pgbenchDatabase(t testing.TB, bin string, scale int) string {
	t.Helper()
	c := s.get(t)
	s.mu.Lock()
	if s.pgbench == nil {
		s.pgbench = make(map[int]*templateDB)
	}
	db := s.pgbench[scale]
	if db == nil {
		db = &templateDB{}
		s.pgbench[scale] = db
	}
	s.mu.Unlock()
	db.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		name := randomName(fmt.Sprintf("tsbank_pgbench_s%d_", scale))
		url, err := c.CreateDatabase(ctx, name)
		if err != nil {
			db.err = err
			return
		}
		db.name = name
		// Server-side generation (G) is several times faster than sending the rows.
		if out, err := exec.CommandContext(ctx, bin, "-i", "-q", "-I", "dtGvp", "-s", strconv.Itoa(scale), url).CombinedOutput(); err != nil {
			db.err = fmt.Errorf("pgbench -i -s %d: %v\n%s", scale, err, out)
		}
	})
	if db.err != nil {
		t.Fatal(db.err)
	}
	url, err := c.DatabaseURL(db.name)
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// comparableRun is the fewest operations a benchmark run needs for a real comparison. A shorter
// one (the test command's -benchtime 1x, or the testing package's first run of every benchmark at
// b.N = 1) compares with pgbench at scale 1 for one second: initializing pgbench at scale 64 would
// cost more than the whole run.
const comparableRun = 1000

// ComparePgBench runs pgbench's script with as many clients, at scale = clients, for as long as
// the benchmark's timed part took (elapsed), and reports pgbench_scale, pgbench_tps and ratio:
// rate, the benchmark's operations per second, over pgbench's tps.
func ComparePgBench(b *testing.B, script string, clients int, elapsed time.Duration, rate float64) {
	b.Helper()
	scale, seconds := max(clients, 1), int(elapsed.Seconds()+0.5)
	if b.N < comparableRun {
		scale, seconds = 1, 1
	}
	b.ReportMetric(float64(scale), "pgbench_scale")
	if tps := PgBench(b, script, clients, scale, seconds); tps > 0 {
		b.ReportMetric(tps, "pgbench_tps")
		b.ReportMetric(rate/tps, "ratio")
	}
}

package testkit

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"
)

// ReportLatency reports the p50, p99 and p99.9 of latencies, in milliseconds, as benchmark
// metrics.
func ReportLatency(b *testing.B, latencies []time.Duration) {
	if len(latencies) == 0 {
		return
	}
	sorted := slices.Clone(latencies)
	slices.Sort(sorted)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(sorted[len(sorted)/2]), "p50_ms")
	b.ReportMetric(ms(sorted[len(sorted)*99/100]), "p99_ms")
	b.ReportMetric(ms(sorted[len(sorted)*999/1000]), "p99.9_ms")
}

// Costs measures what a benchmark's operations cost the whole bank: WAL flushes and writes
// (pg_stat_wal, server-wide), committed Postgres transactions in the bank's databases
// (pg_stat_database), statements (pg_stat_statements, when loaded), messages through the embedded
// nats-server (Varz), CPU time of this process, which runs the services, the nats-server and the
// clients, and CPU time of the Postgres server when it runs on this machine (/proc).
type Costs struct {
	adminURL string
	ns       *server.Server
	dbs      []string // the bank's database names
	before   counters
	// statementsBefore is pg_stat_statements before the ops.
	statementsBefore statementStats
}

type counters struct {
	walSyncs, walWrites, xacts int64
	statements                 int64 // -1: pg_stat_statements is not loaded
	natsIn, natsOut            int64
	cpu                        time.Duration
	pgCPU                      time.Duration // -1: the server is not a process on this machine
}

// StartCosts reads the counters before a benchmark's timed part. databases are the URLs of the
// bank's databases on the server at adminURL.
//
// A backend publishes its statistics at most once a second while busy and when it exits, so up
// to a second of the set-up's work may be counted to the operations: noise at the README's sizes.
func StartCosts(t testing.TB, adminURL string, ns *server.Server, databases []string) *Costs {
	t.Helper()
	c := &Costs{adminURL: adminURL, ns: ns}
	for _, url := range databases {
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			t.Fatal(err)
		}
		c.dbs = append(c.dbs, cfg.Database)
	}
	c.before = c.natsAndCPU(t)
	// The clusters the test kit starts load pg_stat_statements; another server may not.
	_ = c.exec(`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`)
	c.readPostgres(t, &c.before)
	c.statementsBefore = c.readStatements()
	return c
}

// Report reads the counters again and reports each one's increase per op as a metric. stop must
// stop every service of the bank: the Postgres figures are read once their sessions have ended,
// because a session's last statistics are published only when it exits (or after seconds idle).
// NATS and CPU are read before stop, so shutting down is not counted.
func (c *Costs) Report(b *testing.B, ops int, stop func()) {
	b.Helper()
	after := c.natsAndCPU(b)
	stop()
	CheckFor(b, 30*time.Second, 20*time.Millisecond, func() error {
		var sessions int
		err := c.query(`SELECT count(*) FROM pg_stat_activity WHERE datname = ANY($1)`, []any{c.dbs}, &sessions)
		if err == nil && sessions > 0 {
			err = fmt.Errorf("%d sessions still connected to the bank's databases", sessions)
		}
		return err
	})
	c.readPostgres(b, &after)
	per := func(after, before int64) float64 { return float64(after-before) / float64(max(ops, 1)) }
	b.ReportMetric(per(after.walSyncs, c.before.walSyncs), "wal_syncs/op")
	b.ReportMetric(per(after.walWrites, c.before.walWrites), "wal_writes/op")
	b.ReportMetric(per(after.xacts, c.before.xacts), "pg_xacts/op")
	if after.statements >= 0 && c.before.statements >= 0 {
		b.ReportMetric(per(after.statements, c.before.statements), "pg_statements/op")
		c.logStatements(b, ops)
	}
	b.ReportMetric(per(after.natsIn, c.before.natsIn), "nats_in/op")
	b.ReportMetric(per(after.natsOut, c.before.natsOut), "nats_out/op")
	b.ReportMetric(float64((after.cpu-c.before.cpu).Microseconds())/1000/float64(max(ops, 1)), "cpu_ms/op")
	if after.pgCPU >= 0 && c.before.pgCPU >= 0 {
		b.ReportMetric(float64((after.pgCPU-c.before.pgCPU).Microseconds())/1000/float64(max(ops, 1)), "pg_cpu_ms/op")
	}
}

func (c *Costs) natsAndCPU(t testing.TB) counters {
	t.Helper()
	v, err := c.ns.Varz(nil)
	if err != nil {
		t.Fatalf("nats varz: %v", err)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return counters{natsIn: v.InMsgs, natsOut: v.OutMsgs,
		cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
}

// readPostgres reads pg_stat_wal's wal_sync (the fsyncs of WAL: what a durable commit waits for;
// zero with fsync off) and wal_write, and the commits of the bank's databases.
func (c *Costs) readPostgres(t testing.TB, into *counters) {
	t.Helper()
	err := c.query(`SELECT wal_sync, wal_write,
		(SELECT coalesce(sum(xact_commit), 0)::bigint FROM pg_stat_database WHERE datname = ANY($1))
		FROM pg_stat_wal`, []any{c.dbs}, &into.walSyncs, &into.walWrites, &into.xacts)
	if err != nil {
		t.Fatalf("postgres statistics: %v", err)
	}
	into.pgCPU = c.serverCPU()
	if err := c.query(`SELECT coalesce(sum(s.calls), 0)::bigint FROM pg_stat_statements s
		JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = ANY($1)`, []any{c.dbs}, &into.statements); err != nil {
		into.statements = -1
	}
}

// statementStats is pg_stat_statements' calls and execution time of each statement of the bank's
// databases, by database and query id.
type statementStats map[string]statementStat

type statementStat struct {
	db, query string
	calls     int64
	ms        float64
}

func (c *Costs) readStatements() statementStats {
	out := statementStats{}
	err := c.withConn(func(ctx context.Context, conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT d.datname || ':' || s.queryid, d.datname, s.calls, s.total_exec_time,
			left(regexp_replace(s.query, '\s+', ' ', 'g'), 100)
			FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = ANY($1)`, c.dbs)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var key string
			var st statementStat
			if err := rows.Scan(&key, &st.db, &st.calls, &st.ms, &st.query); err != nil {
				return err
			}
			out[key] = st
		}
		return rows.Err()
	})
	if err != nil {
		return nil
	}
	return out
}

// logStatements logs the statements that took the most of the server's time during the ops, per
// op, with their database: where a benchmark's Postgres time goes. A benchmark's log keeps only
// 10 lines, so only the top 6 are logged, and not for the trial run of one op that comes first.
func (c *Costs) logStatements(b *testing.B, ops int) {
	if ops <= 1 {
		return
	}
	after := c.readStatements()
	var diffs []statementStat
	for k, st := range after {
		st.calls -= c.statementsBefore[k].calls
		st.ms -= c.statementsBefore[k].ms
		if st.calls > 0 {
			diffs = append(diffs, st)
		}
	}
	slices.SortFunc(diffs, func(x, y statementStat) int { return cmp.Compare(y.ms, x.ms) })
	for _, st := range diffs[:min(len(diffs), 6)] {
		b.Logf("%7.3f calls/op %7.3f ms/op  %-20.20s %s", float64(st.calls)/float64(ops), st.ms/float64(ops), st.db, st.query)
	}
}

// serverCPU is the CPU time the Postgres server has used so far, read from /proc through one of
// its backends (the server must run on this machine), or -1.
func (c *Costs) serverCPU() time.Duration {
	cpu := time.Duration(-1)
	_ = c.withConn(func(ctx context.Context, conn *pgx.Conn) error {
		var backend int
		if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
			return err
		}
		used, err := serverCPU(backend)
		if err == nil {
			cpu = used
		}
		return err
	})
	return cpu
}

func (c *Costs) exec(sql string) error {
	return c.withConn(func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, sql)
		return err
	})
}

func (c *Costs) query(sql string, args []any, dest ...any) error {
	return c.withConn(func(ctx context.Context, conn *pgx.Conn) error {
		return conn.QueryRow(ctx, sql, args...).Scan(dest...)
	})
}

// withConn runs fn on a connection of its own to the server's admin database, within 10 s.
func (c *Costs) withConn(fn func(context.Context, *pgx.Conn) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return fn(ctx, conn)
}

// OutboxSent waits until the relay of the account node whose database is at url has published
// every event, so that a benchmark counts the publishing in the cost of what it measured (and
// the few reads of this wait with it).
func OutboxSent(t testing.TB, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	CheckFor(t, time.Minute, 20*time.Millisecond, func() error {
		var unsent int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&unsent); err != nil {
			return err
		}
		if unsent > 0 {
			return fmt.Errorf("%d events not yet published", unsent)
		}
		return nil
	})
}

// MetricSum is the sum over every series of metric (a gauge or a counter) on the /metrics of the
// operations server at addr.
func MetricSum(addr, metric string) (float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric+"{") && !strings.HasPrefix(line, metric+" ") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}

package testkit

import (
	"context"
	"fmt"
	"slices"
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
// (pg_stat_database), messages through the embedded nats-server (Varz) and CPU time of this
// process, which runs the services, the nats-server and the clients (not Postgres).
type Costs struct {
	adminURL string
	ns       *server.Server
	dbs      []string // the bank's database names
	before   counters
}

type counters struct {
	walSyncs, walWrites, xacts int64
	natsIn, natsOut            int64
	cpu                        time.Duration
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
	c.readPostgres(t, &c.before)
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
		err := c.query(b, `SELECT count(*) FROM pg_stat_activity WHERE datname = ANY($1)`, []any{c.dbs}, &sessions)
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
	b.ReportMetric(per(after.natsIn, c.before.natsIn), "nats_in/op")
	b.ReportMetric(per(after.natsOut, c.before.natsOut), "nats_out/op")
	b.ReportMetric(float64((after.cpu-c.before.cpu).Microseconds())/1000/float64(max(ops, 1)), "cpu_ms/op")
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
	err := c.query(t, `SELECT wal_sync, wal_write,
		(SELECT coalesce(sum(xact_commit), 0)::bigint FROM pg_stat_database WHERE datname = ANY($1))
		FROM pg_stat_wal`, []any{c.dbs}, &into.walSyncs, &into.walWrites, &into.xacts)
	if err != nil {
		t.Fatalf("postgres statistics: %v", err)
	}
}

func (c *Costs) query(t testing.TB, sql string, args []any, dest ...any) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, sql, args...).Scan(dest...)
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

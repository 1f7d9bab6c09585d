package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tsbank/migrations"
	"tsbank/platform/pgcluster"
)

// envPostgresURL names an existing server for the tests, as an admin URL
// (postgres://user:password@host:port/postgres). Without it, the first test that needs
// Postgres starts a throwaway cluster for the whole test binary.
const envPostgresURL = "TSBANK_TEST_POSTGRES_URL"

// pgServer is one PostgreSQL server the test binary shares between its tests: the server, and per
// kind of database one template with the migrations applied, so each test pays for a copy, not
// a migration.
type pgServer struct {
	// durable asks for fsync, synchronous_commit and full_page_writes on, as a deployment runs
	// Postgres, instead of the fast settings of ADR 0006.
	durable bool

	once    sync.Once
	cluster *pgcluster.Cluster
	err     error

	mu        sync.Mutex
	templates map[string]*templateDB
	pgbench   map[int]*templateDB // pgbench's databases, by scale (see PgBench)
}

// The tests' server, and the benchmarks' durable one: each is started the first time it is
// needed, so a test binary that runs no benchmark never starts the second.
var (
	testServer    = &pgServer{}
	durableServer = &pgServer{durable: true}
)

type templateDB struct {
	once sync.Once
	name string
	err  error
}

// Postgres creates a fresh database for this test, with the migrations of database (one of
// migrations.Databases, e.g. "account") applied, and returns its URL. The database is dropped
// when the test ends. Tests may call it in parallel.
func Postgres(t testing.TB, database string) string {
	t.Helper()
	SkipShort(t)
	return testServer.database(t, database)
}

// DurablePostgres is Postgres on a server that keeps every commit: a throwaway cluster with
// fsync, synchronous_commit and full_page_writes on (pgcluster.StartDurable), started once for
// the test binary, or the server named by TSBANK_TEST_POSTGRES_URL. Benchmarks use it, so that
// their figures include the WAL flushes a deployment pays for; every database of a benchmark's
// bank is on this one server, as in the compose deployment.
func DurablePostgres(t testing.TB, database string) string {
	t.Helper()
	SkipShort(t)
	return durableServer.database(t, database)
}

// PostgresAdminURL returns the URL of the test server's `postgres` database, as a superuser,
// for tests that create their own databases.
func PostgresAdminURL(t testing.TB) string {
	t.Helper()
	SkipShort(t)
	return testServer.get(t).AdminURL()
}

// DurablePostgresAdminURL is PostgresAdminURL for DurablePostgres's server.
func DurablePostgresAdminURL(t testing.TB) string {
	t.Helper()
	return durableServer.get(t).AdminURL()
}

// DurablePostgresKind says what DurablePostgres's server is, from the server itself, for a
// benchmark to print beside its figures: who started it, its version, and the settings that
// decide what a commit costs.
func DurablePostgresKind(t testing.TB) string {
	t.Helper()
	c := durableServer.get(t)
	origin := "throwaway cluster started by the benchmark"
	if !c.Started() {
		origin = "the server of " + envPostgresURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var version, settings string
	err = conn.QueryRow(ctx, `SELECT current_setting('server_version'),
		string_agg(name || '=' || setting, ' ' ORDER BY name)
		FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes')`).Scan(&version, &settings)
	if err != nil {
		t.Fatalf("postgres settings: %v", err)
	}
	return fmt.Sprintf("%s, PostgreSQL %s, %s", origin, version, settings)
}

func (s *pgServer) database(t testing.TB, database string) string {
	t.Helper()
	c := s.get(t)
	template, err := s.template(c, database)
	if err != nil {
		t.Fatalf("template database for %q: %v", database, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := randomName("tsbank_test_")
	url, err := c.CreateFromTemplate(ctx, name, template)
	if err != nil {
		t.Fatal(err)
	}
	// Not t.Context: it is already canceled when cleanups run.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.DropDatabase(ctx, name); err != nil {
			t.Error(err)
		}
	})
	return url
}

func (s *pgServer) get(t testing.TB) *pgcluster.Cluster {
	t.Helper()
	s.once.Do(func() {
		if url := os.Getenv(envPostgresURL); url != "" {
			s.cluster = pgcluster.Existing(url)
			return
		}
		// Not the calling test's context: the cluster outlives it.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if s.durable {
			s.cluster, s.err = pgcluster.StartDurable(ctx, "")
		} else {
			s.cluster, s.err = pgcluster.Start(ctx, "")
		}
	})
	if s.err != nil {
		t.Fatalf("postgres for tests (set %s to use an existing server): %v", envPostgresURL, s.err)
	}
	return s.cluster
}

// template returns the template for database, creating and migrating it the first time.
func (s *pgServer) template(c *pgcluster.Cluster, database string) (string, error) {
	s.mu.Lock()
	if s.templates == nil {
		s.templates = make(map[string]*templateDB)
	}
	tmpl := s.templates[database]
	if tmpl == nil {
		tmpl = &templateDB{}
		s.templates[database] = tmpl
	}
	s.mu.Unlock()

	tmpl.once.Do(func() { tmpl.name, tmpl.err = createTemplate(c, database) })
	return tmpl.name, tmpl.err
}

func createTemplate(c *pgcluster.Cluster, database string) (string, error) {
	if !slices.Contains(migrations.Databases, database) {
		return "", fmt.Errorf("no migrations for %q; there are %q", database, migrations.Databases)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The random name keeps test binaries that share a server (go test ./... runs packages in
	// parallel) from migrating, copying or dropping each other's template.
	name := randomName("tsbank_template_" + database + "_")
	url, err := c.CreateDatabase(ctx, name)
	if err != nil {
		return "", err
	}
	// Up closes its connections before returning, which copying the template requires.
	// Postgres waits a few seconds for backends that are still exiting.
	if err := migrations.Up(database, url); err != nil {
		return "", errors.Join(err, c.DropDatabase(ctx, name))
	}
	return name, nil
}

// stopShared stops the servers started for the test binary, or, on a server it did not
// start, drops the databases it kept there.
func stopShared() error {
	return errors.Join(testServer.stop(), durableServer.stop())
}

func (s *pgServer) stop() error {
	c := s.cluster
	if c == nil {
		return nil
	}
	if c.Started() {
		// The templates go away with the cluster.
		return c.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, db := range slices.Concat(slices.Collect(maps.Values(s.templates)), slices.Collect(maps.Values(s.pgbench))) {
		if db.name != "" {
			errs = append(errs, c.DropDatabase(ctx, db.name))
		}
	}
	return errors.Join(errs...)
}

// randomName returns prefix followed by random hex, a valid unquoted Postgres identifier
// that no other test or test binary will pick.
func randomName(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

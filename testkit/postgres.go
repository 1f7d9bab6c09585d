package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"tsbank/migrations"
	"tsbank/platform/pgcluster"
)

// envPostgresURL names an existing server for the tests, as an admin URL
// (postgres://user:password@host:port/postgres). Without it, the first test that needs
// Postgres starts a throwaway cluster for the whole test binary.
const envPostgresURL = "TSBANK_TEST_POSTGRES_URL"

// shared is what the test binary shares between its tests: one server, and per kind of
// database one template with the migrations applied, so each test pays for a copy, not a
// migration.
var shared struct {
	once    sync.Once
	cluster *pgcluster.Cluster
	err     error

	mu        sync.Mutex
	templates map[string]*templateDB
}

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
	c := testCluster(t)
	template, err := sharedTemplate(c, database)
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

// PostgresAdminURL returns the URL of the test server's `postgres` database, as a superuser,
// for tests that create their own databases.
func PostgresAdminURL(t testing.TB) string {
	t.Helper()
	return testCluster(t).AdminURL()
}

func testCluster(t testing.TB) *pgcluster.Cluster {
	t.Helper()
	shared.once.Do(func() {
		if url := os.Getenv(envPostgresURL); url != "" {
			shared.cluster = pgcluster.Existing(url)
			return
		}
		// Not the calling test's context: the cluster outlives it.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		shared.cluster, shared.err = pgcluster.Start(ctx, "")
	})
	if shared.err != nil {
		t.Fatalf("postgres for tests (set %s to use an existing server): %v", envPostgresURL, shared.err)
	}
	return shared.cluster
}

// sharedTemplate returns the template for database, creating and migrating it the first time.
func sharedTemplate(c *pgcluster.Cluster, database string) (string, error) {
	shared.mu.Lock()
	if shared.templates == nil {
		shared.templates = make(map[string]*templateDB)
	}
	tmpl := shared.templates[database]
	if tmpl == nil {
		tmpl = &templateDB{}
		shared.templates[database] = tmpl
	}
	shared.mu.Unlock()

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

// stopShared stops the server started for the test binary, or, on a server it did not
// start, drops the templates it made there.
func stopShared() error {
	c := shared.cluster
	if c == nil {
		return nil
	}
	if c.Started() {
		// The templates go away with the cluster.
		return c.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	var errs []error
	for _, tmpl := range shared.templates {
		if tmpl.name != "" {
			errs = append(errs, c.DropDatabase(ctx, tmpl.name))
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

package testkit_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"tsbank/platform/pgcluster"
	"tsbank/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func TestStartNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers: the fast tier (-short) skips it")
	}
	t.Parallel()
	s := testkit.StartNATS(t)
	js, err := jetstream.New(testkit.Connect(t, s))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "TEST", Subjects: []string{"test.>"}}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	ack, err := js.Publish(ctx, "test.one", []byte("hello"))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if ack.Stream != "TEST" || ack.Sequence != 1 {
		t.Errorf("ack = %+v, want stream TEST sequence 1", ack)
	}
}

func TestPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers: the fast tier (-short) skips it")
	}
	t.Parallel()
	var urls []string
	t.Run("gives each test its own migrated database", func(t *testing.T) {
		a, b := testkit.Postgres(t, "account"), testkit.Postgres(t, "account")
		urls = []string{a, b}
		if queryString(t, a, "SELECT current_database()") == queryString(t, b, "SELECT current_database()") {
			t.Fatalf("both URLs name the same database: %s", a)
		}
		for _, url := range urls {
			if got := queryString(t, url, "SELECT coalesce(to_regclass('accounts')::text, '')"); got != "accounts" {
				t.Errorf("%s: table accounts missing", url)
			}
		}
		exec(t, a, "INSERT INTO accounts (id, currency) VALUES ('alice', 'EUR')")
		if n := queryString(t, b, "SELECT count(*)::text FROM accounts"); n != "0" {
			t.Errorf("second database sees %s accounts written to the first", n)
		}
	})
	if len(urls) != 2 {
		t.FailNow()
	}

	t.Run("drops the databases when the test ends", func(t *testing.T) {
		admin := testkit.PostgresAdminURL(t)
		for _, url := range urls {
			cfg, err := pgx.ParseConfig(url)
			if err != nil {
				t.Fatal(err)
			}
			if n := queryString(t, admin, "SELECT count(*)::text FROM pg_database WHERE datname = '"+cfg.Database+"'"); n != "0" {
				t.Errorf("database %s still exists", cfg.Database)
			}
		}
	})
}

func TestPostgresParallel(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers: the fast tier (-short) skips it")
	}
	t.Parallel()
	for range 8 {
		t.Run("creates a database while others do", func(t *testing.T) {
			t.Parallel()
			url := testkit.Postgres(t, "account")
			exec(t, url, "INSERT INTO accounts (id, currency) VALUES ('alice', 'EUR')")
		})
	}
}

func TestStartCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers: the fast tier (-short) skips it")
	}
	if os.Getenv("TSBANK_TEST_POSTGRES_URL") != "" {
		t.Skip("uses an existing server")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			c.Stop()
		}
	})
	url, err := c.CreateDatabase(ctx, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if got := queryString(t, url, "SELECT current_database()"); got != "dev" {
		t.Errorf("current_database() = %q, want dev", got)
	}

	if err := c.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	stopped = true
	if conn, err := pgx.Connect(ctx, c.AdminURL()); err == nil {
		conn.Close(ctx)
		t.Error("cluster still accepts connections after Stop")
	}
}

func TestCheckFor(t *testing.T) {
	t.Parallel()
	calls := 0
	testkit.CheckFor(t, time.Second, time.Millisecond, func() error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if calls != 3 {
		t.Errorf("f called %d times, want 3", calls)
	}
}

func queryString(t *testing.T, url, sql string) string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var s string
	if err := conn.QueryRow(t.Context(), sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func exec(t *testing.T, url, sql string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

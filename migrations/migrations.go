// Package migrations holds the SQL migrations of every TSBank database and applies them.
//
// Each database belongs to one service: account (one per account node), coordinator, history and auth (the customers).
// The files are golang-migrate files, so the `migrate` CLI can apply them too:
//
//	migrate -path migrations/account -database "$DATABASE_URL" up
package migrations

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5" // registers the pgx5:// scheme
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

//go:embed account/*.sql coordinator/*.sql history/*.sql auth/*.sql
var files embed.FS

// Databases names the migration sets, one per kind of database.
var Databases = []string{"account", "coordinator", "history", "auth"}

// FS returns the migration files of one database, for tests that inspect them.
func FS(database string) (fs.FS, error) {
	return fs.Sub(files, database)
}

// Up applies every pending migration of the named database to the Postgres at url
// (a postgres:// or postgresql:// URL). It is safe to run concurrently with itself:
// golang-migrate takes an advisory lock.
func Up(database, url string) error {
	return run(database, url, "up", (*migrate.Migrate).Up)
}

// To migrates the named database at url up or down to version: for tests that seed rows under
// an older schema and check them after a migration.
func To(database, url string, version uint) error {
	return run(database, url, fmt.Sprintf("to %d", version), func(m *migrate.Migrate) error { return m.Migrate(version) })
}

// run opens the migrations of database against url and applies step (what names it in errors).
func run(database, url, what string, step func(*migrate.Migrate) error) error {
	src, err := iofs.New(files, database)
	if err != nil {
		return fmt.Errorf("migrations for %q: %w", database, err)
	}
	m, err := migrate.NewWithSourceInstance("iofs", src, pgx5URL(url))
	if err != nil {
		return fmt.Errorf("migrate %s: %w", database, err)
	}
	defer m.Close()
	if err := step(m); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrate %s %s: %w", database, what, err)
	}
	return nil
}

// pgx5URL turns a libpq-style URL into the scheme golang-migrate's pgx/v5 driver registers.
func pgx5URL(url string) string {
	for _, p := range []string{"postgres://", "postgresql://"} {
		if strings.HasPrefix(url, p) {
			return "pgx5://" + strings.TrimPrefix(url, p)
		}
	}
	return url
}

// Migrator returns a function that brings database's schema up to date at a URL, for a service's
// `migrate` command (platform/cli).
func Migrator(database string) func(url string) error {
	return func(url string) error { return Up(database, url) }
}

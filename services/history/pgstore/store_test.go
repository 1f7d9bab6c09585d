package pgstore_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"tsbank/services/history/history"
	"tsbank/services/history/history/storetest"
	"tsbank/services/history/pgstore"
	"tsbank/testkit"
)

// TestTheStoreContract runs on Postgres the suite that memstore passes, each subtest on a fresh
// history database.
func TestTheStoreContract(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL: the fast tier runs the contract on memstore only")
	}
	storetest.Run(t, func(t *testing.T) history.Store {
		pool, err := pgxpool.New(context.Background(), testkit.Postgres(t, "history"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		return pgstore.New(pool)
	})
}

package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tsbank/contract/money"
	"tsbank/platform/idgen"
	"tsbank/services/account/account"
	"tsbank/services/account/outbox"
	"tsbank/services/account/pgstore"
	"tsbank/testkit"
)

// newPool is a pool on a fresh, migrated account database, closed when the test ends.
func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testkit.Postgres(t, "account"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// newService is the use cases of node account-1 over a store on pool, with the EUR accounts ids
// opened.
func newService(t *testing.T, pool *pgxpool.Pool, ids ...string) (*account.Service, *pgstore.Store) {
	t.Helper()
	s := pgstore.New(pool, "account-1", outbox.Encode)
	svc := &account.Service{Node: "account-1", Store: s, Now: time.Now, NewID: idgen.UUIDv7}
	eur, _ := money.LookupCurrency("EUR")
	for _, id := range ids {
		if _, err := s.Create(context.Background(), account.Account{ID: id, Currency: eur, Status: account.StatusOpen, OpenedAt: time.Now()},
			account.NewKey("o-"+id, "open")); err != nil {
			t.Fatal(err)
		}
	}
	return svc, s
}

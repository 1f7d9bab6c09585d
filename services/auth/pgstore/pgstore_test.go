package pgstore_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"tsbank/services/auth/customer"
	"tsbank/services/auth/pgstore"
	"tsbank/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func newStore(t testing.TB) *pgstore.Store {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testkit.Postgres(t, "auth"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pgstore.New(pool)
}

func TestStoreKeepsCustomersWithTheirAccountsAndHash(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	c, err := s.Add(ctx, customer.Customer{ID: "carol", Accounts: []string{"carol-1", "carol-2"}, RequestID: "r1"}, []byte("hash"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "carol" || !slices.Equal(c.Accounts, []string{"carol-1", "carol-2"}) || c.Disabled || c.RequestID != "r1" || c.CreatedAt.IsZero() {
		t.Errorf("added %+v", c)
	}
	got, hash, err := s.Credentials(ctx, "carol")
	if err != nil || string(hash) != "hash" || !slices.Equal(got.Accounts, c.Accounts) {
		t.Errorf("credentials = %+v %q %v", got, hash, err)
	}
	if _, err := s.Add(ctx, customer.Customer{ID: "carol", RequestID: "r2"}, []byte("h")); !errors.Is(err, customer.ErrExists) {
		t.Errorf("second add: %v, want ErrExists", err)
	}
	if _, _, err := s.Credentials(ctx, "nobody"); !errors.Is(err, customer.ErrNotFound) {
		t.Errorf("unknown customer: %v, want ErrNotFound", err)
	}
}

func TestAnAccountBelongsToAtMostOneCustomer(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	if _, err := s.Add(ctx, customer.Customer{ID: "carol", Accounts: []string{"carol-1"}, RequestID: "r1"}, []byte("h")); err != nil {
		t.Fatal(err)
	}
	t.Run("an add naming an owned account is refused whole", func(t *testing.T) {
		_, err := s.Add(ctx, customer.Customer{ID: "dave", Accounts: []string{"dave", "carol-1"}, RequestID: "r2"}, []byte("h"))
		if !errors.Is(err, customer.ErrAccountOwned) {
			t.Fatalf("add = %v, want ErrAccountOwned", err)
		}
		if _, err := s.Get(ctx, "dave"); !errors.Is(err, customer.ErrNotFound) {
			t.Errorf("dave after a refused add: %v, want ErrNotFound", err)
		}
	})
	if _, err := s.Add(ctx, customer.Customer{ID: "dave", Accounts: []string{"dave"}, RequestID: "r3"}, []byte("h")); err != nil {
		t.Fatal(err)
	}
	t.Run("granting another's account is refused", func(t *testing.T) {
		if _, err := s.Grant(ctx, "dave", "carol-1"); !errors.Is(err, customer.ErrAccountOwned) {
			t.Errorf("grant = %v, want ErrAccountOwned", err)
		}
	})
	t.Run("granting an owned account again changes nothing", func(t *testing.T) {
		c, err := s.Grant(ctx, "carol", "carol-1")
		if err != nil || !slices.Equal(c.Accounts, []string{"carol-1"}) {
			t.Errorf("grant = %+v, %v", c, err)
		}
	})
	t.Run("racing grants of one account have one winner", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, id := range []string{"carol", "dave"} {
			wg.Go(func() { _, errs[i] = s.Grant(ctx, id, "shared") })
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Errorf("grant errors %v: want exactly one winner", errs)
		}
	})
	t.Run("a revoked account can be granted to another", func(t *testing.T) {
		if c, err := s.Revoke(ctx, "carol", "carol-1"); err != nil || c.Owns("carol-1") {
			t.Fatalf("revoke = %+v, %v", c, err)
		}
		if c, err := s.Grant(ctx, "dave", "carol-1"); err != nil || !c.Owns("carol-1") {
			t.Errorf("grant = %+v, %v", c, err)
		}
	})
	t.Run("changing an unknown customer is not found", func(t *testing.T) {
		if _, err := s.Grant(ctx, "nobody", "x"); !errors.Is(err, customer.ErrNotFound) {
			t.Errorf("grant = %v", err)
		}
		if _, err := s.Disable(ctx, "nobody"); !errors.Is(err, customer.ErrNotFound) {
			t.Errorf("disable = %v", err)
		}
	})
}

func TestPasswordAndDisableChangeTheStoredCustomer(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	if _, err := s.Add(ctx, customer.Customer{ID: "carol", Accounts: []string{"carol-1"}, RequestID: "r1"}, []byte("old")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetPassword(ctx, "carol", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if _, hash, _ := s.Credentials(ctx, "carol"); string(hash) != "new" {
		t.Errorf("hash = %q after a password change", hash)
	}
	for range 2 {
		if c, err := s.Disable(ctx, "carol"); err != nil || !c.Disabled {
			t.Fatalf("disable = %+v, %v", c, err)
		}
	}
	l, err := s.List(ctx)
	if err != nil || len(l) != 1 || !l[0].Disabled {
		t.Errorf("list = %+v, %v", l, err)
	}
}

package pgstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"tsbank/contract/money"
	"tsbank/services/account/account"
	"tsbank/services/account/outbox"
	"tsbank/services/account/pgstore"
)

// TestTheDatabaseAcceptsALoweredLimitButNotDrawingBeyondIt checks the last line of defence
// (migrations/account/000006) without the domain's rules: a limit lowered below what is drawn is
// stored, drawing further is refused, and money coming in is accepted.
func TestTheDatabaseAcceptsALoweredLimitButNotDrawingBeyondIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	s := pgstore.New(pool, "account-1", outbox.Encode)
	eur, _ := money.LookupCurrency("EUR")
	if _, err := s.Create(ctx, account.Account{ID: "carol", Currency: eur, OverdraftLimit: 5000, Status: account.StatusOpen,
		OpenedAt: time.Now()}, account.NewKey("o-1", "open")); err != nil {
		t.Fatal(err)
	}
	change := func(id string, fn func(*account.Account)) error {
		_, err := s.Change(ctx, "carol", account.NewKey(id, "test"), func(a *account.Account) (*account.Event, error) {
			fn(a)
			return nil, nil
		})
		return err
	}
	if err := change("draw", func(a *account.Account) { a.Balance = -3000 }); err != nil {
		t.Fatal(err)
	}
	if err := change("lower", func(a *account.Account) { a.OverdraftLimit = 1000 }); err != nil {
		t.Fatalf("lowering the limit below what is drawn: %v", err)
	}
	var pgErr *pgconn.PgError
	if err := change("further", func(a *account.Account) { a.Balance-- }); !errors.As(err, &pgErr) || pgErr.Code != "23514" {
		t.Fatalf("drawing beyond the lowered limit: %v, want a check violation", err)
	}
	if err := change("in", func(a *account.Account) { a.Balance += 500 }); err != nil {
		t.Fatalf("money in beyond the limit: %v", err)
	}
	if a, err := s.Get(ctx, "carol"); err != nil || a.Balance != -2500 || a.OverdraftLimit != 1000 {
		t.Fatalf("carol = %+v, %v", a, err)
	}
}

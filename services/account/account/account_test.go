package account

import (
	"errors"
	"strings"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/contract/money"
)

var eur = money.Currency{Code: "EUR", Exponent: 2}

func TestWithdraw(t *testing.T) {
	cases := []struct {
		name                           string
		balance, onHold, limit, amount int64
		wantErr                        error
		wantBalance                    int64
	}{
		{"succeeds within the balance", 1000, 0, 0, 1000, nil, 0},
		{"is refused beyond the balance", 1000, 0, 0, 1001, ErrInsufficientFunds, 1000},
		{"counts holds against the balance", 1000, 500, 0, 600, ErrInsufficientFunds, 1000},
		{"may use the overdraft limit", 1000, 0, 500, 1500, nil, -500},
		{"is refused beyond the overdraft limit", 1000, 0, 500, 1501, ErrInsufficientFunds, 1000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := Account{ID: "a", Currency: eur, Balance: tc.balance, OnHold: tc.onHold, OverdraftLimit: tc.limit, Status: StatusOpen}
			err := a.Withdraw(tc.amount)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Withdraw = %v, want %v", err, tc.wantErr)
			}
			if a.Balance != tc.wantBalance {
				t.Fatalf("balance = %d, want %d", a.Balance, tc.wantBalance)
			}
		})
	}
}

// TestAvailableIsWhatCanBeSpent pins a bug: with an overdraft, available showed the balance less
// the holds, not what the account could pay; a withdrawal of exactly the available amount must
// succeed, and one cent more must be refused with that same figure in the message.
func TestAvailableIsWhatCanBeSpent(t *testing.T) {
	cases := []struct {
		name                   string
		balance, onHold, limit int64
		want                   int64
	}{
		{"without an overdraft is the balance less the holds", 1000, 300, 0, 700},
		{"with an overdraft adds the limit", 1000, 300, 5000, 5700},
		{"overdrawn is what is left of the limit", -2000, 0, 5000, 3000},
		{"overdrawn with a hold", -2000, 1000, 5000, 2000},
		{"drawn beyond a lowered limit is zero", -3000, 0, 1000, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := Account{ID: "a", Currency: eur, Balance: tc.balance, OnHold: tc.onHold, OverdraftLimit: tc.limit, Status: StatusOpen}
			if got := a.Available(); got != tc.want {
				t.Fatalf("Available = %d, want %d", got, tc.want)
			}
			over := a
			err := over.Withdraw(tc.want + 1)
			if !errors.Is(err, ErrInsufficientFunds) || !strings.Contains(err.Error(), "has "+money.Format(tc.want, eur)+" available") {
				t.Fatalf("Withdraw(available + 1) = %v, want insufficient funds naming %s available", err, money.Format(tc.want, eur))
			}
			if tc.want > 0 {
				if err := a.Withdraw(tc.want); err != nil || a.Available() != 0 {
					t.Fatalf("Withdraw(available) = %v, available after %d", err, a.Available())
				}
			}
		})
	}
}

// A limit lowered below what the account has drawn takes nothing back: the account keeps its
// balance, may not draw further, and may still receive money.
func TestALimitLoweredBelowWhatIsDrawnOnlyStopsFurtherDrawing(t *testing.T) {
	a := Account{ID: "a", Currency: eur, Balance: -3000, OverdraftLimit: 5000, Status: StatusOpen}
	if err := a.SetOverdraftLimit(1000); err != nil || a.OverdraftLimit != 1000 || a.Balance != -3000 {
		t.Fatalf("SetOverdraftLimit = %v, account %+v", err, a)
	}
	if err := a.Withdraw(1); !errors.Is(err, ErrInsufficientFunds) {
		t.Fatalf("Withdraw beyond the lowered limit = %v, want ErrInsufficientFunds", err)
	}
	if err := a.Deposit(500); err != nil || a.Balance != -2500 {
		t.Fatalf("Deposit = %v, balance %d", err, a.Balance)
	}
	closed := Account{ID: "c", Currency: eur, Status: StatusClosed}
	if err := closed.SetOverdraftLimit(1000); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetOverdraftLimit on a closed account = %v, want ErrClosed", err)
	}
}

func TestClosedAccountRefusesMoney(t *testing.T) {
	a := Account{ID: "a", Currency: eur, Status: StatusClosed}
	if err := a.Deposit(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Deposit = %v, want ErrClosed", err)
	}
	if err := a.Withdraw(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Withdraw = %v, want ErrClosed", err)
	}
}

func TestClose(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name            string
		balance, onHold int64
		wantErr         error
	}{
		{"succeeds at zero", 0, 0, nil},
		{"is refused with money left", 1, 0, ErrNotEmpty},
		{"is refused with a hold", 0, 1, ErrNotEmpty},
		{"is refused when overdrawn", -1, 0, ErrNotEmpty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Account{ID: "a", Currency: eur, Balance: tc.balance, OnHold: tc.onHold, Status: StatusOpen}
			err := a.Close(now)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Close = %v, want %v", err, tc.wantErr)
			}
			if closed := a.Status == StatusClosed; closed != (tc.wantErr == nil) {
				t.Fatalf("status = %s after Close = %v", a.Status, err)
			}
		})
	}
}

func TestDepositRefusesOverflow(t *testing.T) {
	a := Account{ID: "a", Currency: eur, Balance: money.MaxMinor, Status: StatusOpen}
	if err := a.Deposit(1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Deposit = %v, want ErrTooLarge", err)
	}
}

// TestTooLargeNamesTheMaximum pins that a deposit or a credit leg refused for the balance's bound
// says what the bound is, where it said only "balance would exceed the maximum".
func TestTooLargeNamesTheMaximum(t *testing.T) {
	a := Account{ID: "a", Currency: eur, Balance: money.MaxMinor, Status: StatusOpen}
	for name, err := range map[string]error{"deposit": a.Deposit(1), "credit leg": a.Prepare(contract.LegCredit, 1)} {
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "the maximum of 10000000000000.00 EUR") {
			t.Errorf("%s: %v, want ErrTooLarge naming the maximum", name, err)
		}
	}
}

func TestKeysDifferByEveryField(t *testing.T) {
	a := NewKey("r", "deposit", "ab", "c")
	b := NewKey("r", "deposit", "a", "bc")
	if string(a.Fingerprint) == string(b.Fingerprint) {
		t.Fatal("fingerprints of different field splits collide")
	}
}

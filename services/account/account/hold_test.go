package account

import (
	"errors"
	"testing"

	"tsbank/contract"
)

// TestAPaymentLegActsOnItsSide checks that a payment's leg, named by its side and its place in
// the payment ("debit.3", "credit.7"), holds and settles exactly as a transfer's leg of that side.
func TestAPaymentLegActsOnItsSide(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, leg                       string
		commit                          bool
		wantBalance, wantOnHold, wantIn int64
	}{
		{"debit.3 reserves and commit takes the money", "debit.3", true, 700, 0, 0},
		{"debit.3 reserves and abort releases it", "debit.3", false, 1000, 0, 0},
		{"credit.7 expects and commit adds the money", "credit.7", true, 1300, 0, 0},
		{"credit.7 expects and abort forgets it", "credit.7", false, 1000, 0, 0},
		{"debit works as before", contract.LegDebit, true, 700, 0, 0},
		{"credit works as before", contract.LegCredit, true, 1300, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Account{ID: "a", Currency: eur, Balance: 1000, Status: StatusOpen}
			if err := a.Prepare(tc.leg, 300); err != nil {
				t.Fatalf("Prepare(%s) = %v", tc.leg, err)
			}
			if Side(tc.leg) == contract.SideDebit && a.OnHold != 300 || Side(tc.leg) == contract.SideCredit && a.PendingIn != 300 {
				t.Fatalf("after prepare: on hold %d, pending in %d", a.OnHold, a.PendingIn)
			}
			a.Settle(Hold{Leg: tc.leg, Amount: 300}, tc.commit)
			if a.Balance != tc.wantBalance || a.OnHold != tc.wantOnHold || a.PendingIn != tc.wantIn {
				t.Fatalf("after settle: balance %d, on hold %d, pending in %d; want %d, %d, %d",
					a.Balance, a.OnHold, a.PendingIn, tc.wantBalance, tc.wantOnHold, tc.wantIn)
			}
		})
	}
}

func TestAPaymentDebitLegIsRefusedBeyondTheAvailable(t *testing.T) {
	t.Parallel()
	a := Account{ID: "a", Currency: eur, Balance: 100, Status: StatusOpen}
	if err := a.Prepare("debit.2", 101); !errors.Is(err, ErrInsufficientFunds) {
		t.Fatalf("Prepare = %v, want ErrInsufficientFunds", err)
	}
	if err := a.Prepare("refund.1", 1); err == nil {
		t.Fatal("Prepare of an unknown side succeeded")
	}
}

package contract

import "testing"

func TestLegSideAcceptsTransferAndPaymentLegsOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		leg, side string
		ok        bool
	}{
		{"debit", LegDebit, true},
		{"credit", LegCredit, true},
		{"debit.1", LegDebit, true},
		{"credit.16", LegCredit, true},
		{PaymentLegName(LegCredit, 7), LegCredit, true},
		{"debit.0", "", false},
		{"debit.17", "", false},
		{"debit.03", "", false},
		{"debit.", "", false},
		{"debit.x", "", false},
		{"debit.+3", "", false},
		{"refund", "", false},
		{"", "", false},
		{"credit.2.1", "", false},
	} {
		side, ok := LegSide(tc.leg)
		if side != tc.side || ok != tc.ok {
			t.Errorf("LegSide(%q) = %q, %v; want %q, %v", tc.leg, side, ok, tc.side, tc.ok)
		}
	}
}

package contract

import "testing"

func TestLegSideAcceptsTransferAndPaymentLegsOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		leg  string
		side Side
		ok   bool
	}{
		{"debit", SideDebit, true},
		{"credit", SideCredit, true},
		{"debit.1", SideDebit, true},
		{"credit.16", SideCredit, true},
		{PaymentLegName(SideCredit, 7), SideCredit, true},
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

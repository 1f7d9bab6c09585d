package natsapi

import (
	"encoding/hex"
	"testing"

	"tsbank/contract"
	"tsbank/services/coordinator/transfer"
)

// TestFingerprintsStayWhatTheLogHolds pins the bytes of every request's fingerprint, as the
// handlers computed them before they shared one helper: a fingerprint that changed would turn
// every retry of a request logged before into a conflict.
func TestFingerprintsStayWhatTheLogHolds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		got  []byte
		want string
	}{
		{"a transfer", transferFingerprint(contract.TransferRequest{ID: "t-1", To: "bob", Amount: "25.00", Description: "rent"}),
			"d26b06314618f455d50b27309b51fee35c048e1e7d7d215f56226b16f3264d28"},
		{"a cross-currency transfer", transferFingerprint(contract.TransferRequest{ID: "x-1", To: "erin", Amount: "10.00", Quote: "q-1"}),
			"9ab753a24fe04ef07d644aefcec1507c28758347c20ebb87150f02861bab5607"},
		{"a refund", refundFingerprint(transfer.Original{TransferID: "t1"}, contract.RefundRequest{ID: "r-1", TransferID: "t1", Amount: "5.00", Description: "sorry"}),
			"1db7861fe4192ed9d3c149f43c7fd538af4c39480cab601450b47175177656ab"},
		{"a payment", paymentFingerprint(contract.PaymentRequest{ID: "p-1", Description: "payroll", Legs: []contract.PaymentLegSpec{
			{Account: "boss", Amount: "3.00", Side: contract.SideDebit}, {Account: "ann", Amount: "3.00", Side: contract.SideCredit}}}),
			"2600a43c7cd0e4a6e7cb0ff9a393aa7b78d82feff99088829156693535bef774"},
		{"a quote", quoteFingerprint(contract.QuoteRequest{ID: "q-1", To: "erin", Amount: "10.00"}),
			"ec9b6514d3c0e25a8d86143737ed903b7dec4d5cfb51efe175a5985677cbfc22"},
	} {
		if got := hex.EncodeToString(tc.got); got != tc.want {
			t.Errorf("%s: fingerprint %s, want %s", tc.name, got, tc.want)
		}
	}
}

package transfer

import (
	"errors"
	"testing"

	"tsbank/contract"
)

// TestNewRefund pins the rule of a refund: only a committed original, only by its payee, never
// past its amount in total (refunds not aborted count), in the original's currency.
func TestNewRefund(t *testing.T) {
	original := Transfer{ID: "t1", From: "alice", To: "shop", State: Done, Outcome: contract.TransferCommitted, Currency: "EUR", AmountMinor: 10000}
	tests := []struct {
		name       string
		original   Transfer
		refunded   int64
		r          RefundRequest
		want       error
		wantAmount string
		wantMinor  int64
	}{
		{name: "no amount refunds what is left", original: original, refunded: 2500, r: RefundRequest{From: "shop"}, wantAmount: "75.00", wantMinor: 7500},
		{name: "a part is refunded in the original's currency", original: original, r: RefundRequest{From: "shop", Amount: "30"}, wantAmount: "30.00", wantMinor: 3000},
		{name: "exactly what is left is refunded", original: original, refunded: 9000, r: RefundRequest{From: "shop", Amount: "10.00"}, wantAmount: "10.00", wantMinor: 1000},
		{name: "more than what is left is refused", original: original, refunded: 9000, r: RefundRequest{From: "shop", Amount: "10.01"}, want: ErrRefundExceeds},
		{name: "a fully refunded transfer is refused", original: original, refunded: 10000, r: RefundRequest{From: "shop"}, want: ErrRefundExceeds},
		{name: "the payer cannot refund", original: original, r: RefundRequest{From: "alice"}, want: ErrNotRefundable},
		{name: "an aborted transfer is refused", original: Transfer{ID: "t1", From: "alice", To: "shop", State: contract.TransferAborted, Outcome: contract.TransferAborted}, r: RefundRequest{From: "shop"}, want: ErrNotRefundable},
		{name: "a preparing transfer is refused", original: Transfer{ID: "t1", From: "alice", To: "shop", State: contract.TransferPreparing}, r: RefundRequest{From: "shop"}, want: ErrNotRefundable},
		{name: "a refund cannot be refunded", original: Transfer{ID: "r1", From: "shop", To: "alice", Outcome: contract.TransferCommitted, Currency: "EUR", AmountMinor: 100, RefundOf: "t1"}, r: RefundRequest{From: "alice"}, want: ErrNotRefundable},
		{name: "more decimals than the currency has is refused", original: original, r: RefundRequest{From: "shop", Amount: "1.001"}, want: ErrInvalidAmount},
		{name: "decimals in a currency without them are refused", original: Transfer{ID: "t2", From: "a", To: "b", Outcome: contract.TransferCommitted, Currency: "JPY", AmountMinor: 500}, r: RefundRequest{From: "b", Amount: "1.5"}, want: ErrInvalidAmount},
		{name: "a zero amount is refused", original: original, r: RefundRequest{From: "shop", Amount: "0"}, want: ErrInvalidAmount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.r.RequestID, tt.r.Original = "r-1", Original{TransferID: tt.original.ID}
			got, err := NewRefund(tt.original, tt.refunded, tt.r)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.From != tt.original.To || got.To != tt.original.From || got.RefundOf != tt.original.ID ||
				got.Amount != tt.wantAmount || got.AmountMinor != tt.wantMinor || got.Currency != tt.original.Currency || got.RequestID != "r-1" {
				t.Fatalf("refund = %+v", got)
			}
		})
	}
}

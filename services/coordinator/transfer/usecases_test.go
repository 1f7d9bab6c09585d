package transfer_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/contract/money"
	"tsbank/services/coordinator/transfer"
)

// refund asks shop to refund amount ("" for what is left) of transfer original.
func (b *bank) refund(original, request, amount string) (transfer.Transfer, error) {
	return b.c.Refund(context.Background(), transfer.RefundRequest{From: "shop", RequestID: request, Fingerprint: []byte(amount),
		Original: transfer.Original{TransferID: original}, Amount: amount})
}

// refunded is what the original's status says is refunded of it.
func (b *bank) refunded(t *testing.T, from, request string) int64 {
	t.Helper()
	rec, err := b.c.Status(context.Background(), from, request)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Refunded
}

// TestRefundsArePaidBackUpToTheOriginalsAmountAndNoFurther: a part, then what is left, then
// nothing more; the original's status counts what its committed refunds paid back.
func TestRefundsArePaidBackUpToTheOriginalsAmountAndNoFurther(t *testing.T) {
	t.Parallel()
	b := newBank(t)
	original := b.pay(t, "alice", "shop", "100.00", "r-1")
	part, err := b.refund(original.ID, "rf-1", "30")
	if err != nil || part.Outcome != contract.TransferCommitted || part.From != "shop" || part.To != "alice" || part.Amount != "30.00" || part.RefundOf != original.ID {
		t.Fatalf("a refund of 30: %+v, %v", part, err)
	}
	if got := b.refunded(t, "alice", "r-1"); got != 3000 {
		t.Fatalf("refunded %d, want 3000", got)
	}
	rest, err := b.refund(original.ID, "rf-2", "")
	if err != nil || rest.Outcome != contract.TransferCommitted || rest.Amount != "70.00" {
		t.Fatalf("a refund of what is left: %+v, %v; want 70.00", rest, err)
	}
	if _, err := b.refund(original.ID, "rf-3", "0.01"); !errors.Is(err, transfer.ErrRefundExceeds) {
		t.Fatalf("a refund past the original: %v, want ErrRefundExceeds", err)
	}
	if got := b.refunded(t, "alice", "r-1"); got != 10000 {
		t.Fatalf("refunded %d, want 10000", got)
	}
	if again, err := b.refund(original.ID, "rf-1", "30"); err != nil || again.ID != part.ID {
		t.Fatalf("a retry of the first refund, with nothing left: %+v, %v; want the first refund", again, err)
	}
}

// TestRacingRefundsNeverPassTheOriginal: ten refunds of 20.00 sent at once against 100.00 of
// one transfer: five are paid, five refused, never six.
func TestRacingRefundsNeverPassTheOriginal(t *testing.T) {
	t.Parallel()
	b := newBank(t)
	original := b.pay(t, "alice", "shop", "100.00", "r-1")
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	for i := range 10 {
		wg.Go(func() {
			rec, err := b.refund(original.ID, fmt.Sprint("rf-", i), "20.00")
			key := string(rec.Outcome)
			if err != nil {
				key = "refused"
				if !errors.Is(err, transfer.ErrRefundExceeds) {
					key = err.Error()
				}
			}
			mu.Lock()
			outcomes[key]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if outcomes[string(contract.TransferCommitted)] != 5 || outcomes["refused"] != 5 {
		t.Fatalf("outcomes %v, want 5 committed and 5 refused", outcomes)
	}
	if got := b.refunded(t, "alice", "r-1"); got != 10000 {
		t.Fatalf("refunded %d, want 10000", got)
	}
}

// TestAnAbortedRefundLeavesItsAmountToRefund: a refund that a leg refuses pays nothing back, so
// the whole amount can still be refunded.
func TestAnAbortedRefundLeavesItsAmountToRefund(t *testing.T) {
	t.Parallel()
	b := newBank(t)
	original := b.pay(t, "alice", "shop", "100.00", "r-1")
	b.nodes.Down("alice", true)
	if rec, err := b.refund(original.ID, "rf-1", ""); err != nil || rec.Outcome != contract.TransferAborted || rec.Reason != contract.CodeNodeUnavailable {
		t.Fatalf("a refund to an account whose node is down: %+v, %v; want aborted, node_unavailable", rec, err)
	}
	b.nodes.Down("alice", false)
	if rec, err := b.refund(original.ID, "rf-2", ""); err != nil || rec.Outcome != contract.TransferCommitted || rec.Amount != "100.00" {
		t.Fatalf("a refund of what is left: %+v, %v; want all of 100.00", rec, err)
	}
}

// payrollRequest pays 1.00 to bob and 2.00 to shop from alice.
func payrollRequest(request string) transfer.PaymentRequest {
	return transfer.PaymentRequest{RequestID: request, Fingerprint: []byte(request), Description: "payroll", Legs: []transfer.LegRequest{
		{Account: "alice", Side: contract.SideDebit, Amount: "3.00"},
		{Account: "bob", Side: contract.SideCredit, Amount: "1.00"},
		{Account: "shop", Side: contract.SideCredit, Amount: "2.00"},
	}}
}

// payroll is payrollRequest's payment, as the coordinator would log it, with id "orphan".
func payroll(t *testing.T, b *bank, request string) transfer.Payment {
	t.Helper()
	p, err := transfer.NewPayment(payrollRequest(request), func(account string) (money.Currency, error) {
		return b.nodes.Currency(context.Background(), account)
	})
	if err != nil {
		t.Fatal(err)
	}
	p.ID = "orphan"
	return p
}

// TestAPaymentAbortsWithTheFirstRefusingLegsReasonAndEveryLegHearsIt: with two legs refusing,
// the reason is that of the first in the request's order, whichever voted first, and every leg
// is told to abort.
func TestAPaymentAbortsWithTheFirstRefusingLegsReasonAndEveryLegHearsIt(t *testing.T) {
	t.Parallel()
	b := newBank(t)
	b.nodes.Refuse("bob", contract.CodeAccountClosed)
	b.nodes.Refuse("shop", contract.CodeTimeout)
	ctx := context.Background()
	p, err := b.c.Pay(ctx, payrollRequest("p-1"))
	if err != nil || p.Outcome != contract.TransferAborted || p.Reason != contract.CodeAccountClosed || p.State != transfer.Done {
		t.Fatalf("Pay = %+v, %v; want aborted with bob's reason, account_closed", p, err)
	}
	if got := b.sentTo(p.ID); !slices.Equal(got, []string{"alice:abort", "bob:abort", "shop:abort"}) {
		t.Fatalf("decisions sent %v", got)
	}
	r := payrollRequest("p-2")
	r.Legs[1], r.Legs[2] = r.Legs[2], r.Legs[1]
	if p, err := b.c.Pay(ctx, r); err != nil || p.Reason != contract.CodeTimeout {
		t.Fatalf("the legs in the other order: Pay = %+v, %v; want shop's reason, timeout", p, err)
	}
	if got, err := b.c.PaymentStatus(ctx, "p-1"); err != nil || got.ID != p.ID || got.Legs[1].Vote != "no:"+string(contract.CodeAccountClosed) {
		t.Fatalf("PaymentStatus = %+v, %v", got, err)
	}
}

// TestAPaymentIsCheckedWholeInOneCurrencyBeforeItIsLogged: a payment whose debits and credits
// do not balance, or whose accounts are in two currencies, is refused before anything is logged
// or prepared, leaving its request id unused; a balanced one commits on every leg.
func TestAPaymentIsCheckedWholeInOneCurrencyBeforeItIsLogged(t *testing.T) {
	t.Parallel()
	b := newBank(t)
	b.nodes.Open("USD", "usd")
	ctx := context.Background()
	unbalanced := payrollRequest("p-1")
	unbalanced.Legs[2].Amount = "1.99"
	twoCurrencies := payrollRequest("p-1")
	twoCurrencies.Legs[2].Account = "usd"
	for _, c := range []struct {
		name string
		r    transfer.PaymentRequest
		want error
	}{{"unbalanced", unbalanced, transfer.ErrInvalidPayment}, {"two currencies", twoCurrencies, transfer.ErrCurrencyMismatch}} {
		if _, err := b.c.Pay(ctx, c.r); !errors.Is(err, c.want) {
			t.Errorf("%s: Pay = %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := b.c.PaymentStatus(ctx, "p-1"); !errors.Is(err, transfer.ErrNotFound) || len(b.nodes.Prepared()) != 0 {
		t.Fatalf("after the refusals: status %v, %d prepares; want nothing logged or prepared", err, len(b.nodes.Prepared()))
	}
	p, err := b.c.Pay(ctx, payrollRequest("p-1"))
	if err != nil || p.Outcome != contract.TransferCommitted || p.AmountMinor != 300 || p.State != transfer.Done {
		t.Fatalf("Pay = %+v, %v; want 3.00 committed", p, err)
	}
	if got := b.sentTo(p.ID); !slices.Equal(got, []string{"alice:commit", "bob:commit", "shop:commit"}) {
		t.Fatalf("decisions sent %v", got)
	}
}

// exchangeBank is a bank with erin in JPY, both exchange accounts, and a rate of 162.5 yen a
// euro in force from now.
func exchangeBank(t *testing.T) *bank {
	t.Helper()
	b := newBank(t)
	b.nodes.Open("EUR", contract.ExchangeAccount("EUR"))
	b.nodes.Open("JPY", "erin", contract.ExchangeAccount("JPY"))
	b.setRate(t, "rate-1", "162.5", b.clock.Now())
	return b
}

func (b *bank) setRate(t *testing.T, request, rate string, from time.Time) {
	t.Helper()
	r, err := transfer.NewRate(request, []byte(rate), "EUR", "JPY", rate, from, b.clock.Now(), "ops")
	if err == nil {
		_, err = b.c.SetRate(context.Background(), r)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func (b *bank) quote(request, amount string) (transfer.Quote, error) {
	return b.c.Quote(context.Background(), transfer.QuoteRequest{Payer: "alice", RequestID: request, Fingerprint: []byte(amount), Payee: "erin", Amount: amount})
}

func (b *bank) exchange(request, quote string) (transfer.Payment, error) {
	return b.c.Exchange(context.Background(), transfer.ExchangeRequest{Payer: "alice", RequestID: request, Fingerprint: []byte(quote), QuoteRequestID: quote})
}

// TestAnExchangeUsesItsQuoteOnce: a cross-currency transfer commits its four legs, each
// currency balanced on its own, and uses its quote up: a second transfer with it is refused,
// while a retry of the first returns its outcome, even after the quote has expired.
func TestAnExchangeUsesItsQuoteOnce(t *testing.T) {
	t.Parallel()
	b := exchangeBank(t)
	q, err := b.quote("q-1", "10.00")
	if err != nil || q.FromMinor != 1000 || q.ToMinor != 1625 || !q.ExpiresAt.Equal(b.clock.Now().Add(quoteTTL)) {
		t.Fatalf("Quote = %+v, %v; want 10.00 EUR for 1625 JPY for %v", q, err, quoteTTL)
	}
	if again, err := b.quote("q-1", "10.00"); err != nil || again.ID != q.ID {
		t.Fatalf("a retry of the quote: %+v, %v; want the same quote", again, err)
	}
	p, err := b.exchange("x-1", "q-1")
	if err != nil || p.Outcome != contract.TransferCommitted || p.State != transfer.Done || p.Exchange == nil || p.Exchange.Quote != q.ID {
		t.Fatalf("Exchange = %+v, %v; want committed with the quote", p, err)
	}
	if got := b.sentTo(p.ID); !slices.Equal(got, []string{"alice:commit", "erin:commit", "fx-EUR:commit", "fx-JPY:commit"}) {
		t.Fatalf("decisions sent %v", got)
	}
	sums := map[string]int64{}
	for _, l := range p.Legs {
		if l.Side == contract.SideDebit {
			sums[l.Currency] += l.AmountMinor
		} else {
			sums[l.Currency] -= l.AmountMinor
		}
	}
	if sums["EUR"] != 0 || sums["JPY"] != 0 {
		t.Fatalf("debits less credits per currency %v, want 0 in each", sums)
	}
	if _, err := b.exchange("x-2", "q-1"); !errors.Is(err, transfer.ErrQuoteUsed) {
		t.Fatalf("a second transfer with the quote: %v, want ErrQuoteUsed", err)
	}
	b.clock.Advance(quoteTTL)
	if again, err := b.exchange("x-1", "q-1"); err != nil || again.ID != p.ID || again.Outcome != contract.TransferCommitted {
		t.Fatalf("a retry after the quote expired: %+v, %v; want the first outcome", again, err)
	}
	if got, err := b.c.ExchangeStatus(context.Background(), "alice", "x-1"); err != nil || got.ID != p.ID {
		t.Fatalf("ExchangeStatus = %+v, %v", got, err)
	}
}

// TestAQuoteExpiresAtItsTimeByTheCoordinatorsClock: a quote used just before it expires is
// carried out; at its expiry it is refused, before anything is logged or prepared.
func TestAQuoteExpiresAtItsTimeByTheCoordinatorsClock(t *testing.T) {
	t.Parallel()
	b := exchangeBank(t)
	for _, request := range []string{"q-1", "q-2"} {
		if _, err := b.quote(request, "10.00"); err != nil {
			t.Fatal(err)
		}
	}
	b.clock.Advance(quoteTTL - time.Nanosecond)
	if p, err := b.exchange("x-1", "q-1"); err != nil || p.Outcome != contract.TransferCommitted {
		t.Fatalf("just before expiry: %+v, %v; want committed", p, err)
	}
	prepared := len(b.nodes.Prepared())
	b.clock.Advance(time.Nanosecond)
	if _, err := b.exchange("x-2", "q-2"); !errors.Is(err, transfer.ErrQuoteExpired) {
		t.Fatalf("at expiry: %v, want ErrQuoteExpired", err)
	}
	if _, err := b.c.ExchangeStatus(context.Background(), "alice", "x-2"); !errors.Is(err, transfer.ErrNotFound) || len(b.nodes.Prepared()) != prepared {
		t.Fatalf("after the refusal: status %v; want nothing logged or prepared", err)
	}
}

// TestAQuoteUsesTheRateInForceByTheCoordinatorsClock: a rate valid from a later moment is not
// used before that moment, and is from then on.
func TestAQuoteUsesTheRateInForceByTheCoordinatorsClock(t *testing.T) {
	t.Parallel()
	b := exchangeBank(t)
	b.setRate(t, "rate-2", "170", b.clock.Now().Add(time.Hour))
	if q, err := b.quote("q-1", "10.00"); err != nil || q.Rate != "162.5" {
		t.Fatalf("before the new rate: %+v, %v; want 162.5", q, err)
	}
	b.clock.Advance(time.Hour)
	if q, err := b.quote("q-2", "10.00"); err != nil || q.Rate != "170" || q.ToMinor != 1700 {
		t.Fatalf("from the new rate on: %+v, %v; want 170", q, err)
	}
	if rates, err := b.c.Rates(context.Background(), "EUR", "JPY", false); err != nil || len(rates) != 1 || rates[0].RequestID != "rate-2" {
		t.Fatalf("Rates in force = %+v, %v; want rate-2", rates, err)
	}
}

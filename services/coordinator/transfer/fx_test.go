package transfer

import (
	"errors"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/contract/money"
)

func currency(t *testing.T, code string) money.Currency {
	t.Helper()
	c, err := money.LookupCurrency(code)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewRateIsCanonicalAndRefusesWhatIsNoRate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	r, err := NewRate("r-1", nil, "EUR", "JPY", "162.50", time.Time{}, now, "")
	if err != nil || r.Rate != "162.5" || !r.ValidFrom.Equal(now) {
		t.Fatalf("NewRate = %+v, %v; want 162.5 valid from now", r, err)
	}
	for name, c := range map[string][3]string{
		"one currency":     {"EUR", "EUR", "1"},
		"unknown currency": {"EUR", "XXX", "1"},
		"lower case":       {"eur", "JPY", "1"},
		"zero":             {"EUR", "JPY", "0.0"},
		"negative":         {"EUR", "JPY", "-162.5"},
		"a float's form":   {"EUR", "JPY", "1.625e2"},
	} {
		if _, err := NewRate("r-1", nil, c[0], c[1], c[2], time.Time{}, now, ""); !errors.Is(err, ErrInvalidRate) {
			t.Errorf("%s: NewRate = %v, want ErrInvalidRate", name, err)
		}
	}
}

func TestNewQuoteCreditsThePayeeTheAmountRoundedTowardZero(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	rate := Rate{RequestID: "r-1", Base: "EUR", Quote: "JPY", Rate: "162.55"}
	q, err := NewQuote(QuoteRequest{Payer: "alice", RequestID: "q-1", Payee: "erin", Amount: "10.01"}, currency(t, "EUR"), currency(t, "JPY"), rate, now, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// 10.01 × 162.55 = 1627.1255 yen: the payee gets 1627, the bank keeps the fraction.
	if q.FromMinor != 1001 || q.ToMinor != 1627 || q.Rate != "162.55" || !q.ExpiresAt.Equal(now.Add(30*time.Second)) {
		t.Fatalf("quote = %+v", q)
	}
}

func TestNewQuoteRefusals(t *testing.T) {
	t.Parallel()
	now := time.Now()
	eur, jpy := currency(t, "EUR"), currency(t, "JPY")
	rate := Rate{Base: "EUR", Quote: "JPY", Rate: "0.5"}
	for name, c := range map[string]struct {
		r        QuoteRequest
		from, to money.Currency
		want     error
	}{
		"one currency":                   {QuoteRequest{Payer: "alice", Payee: "bob", Amount: "1.00"}, eur, eur, ErrNotExchange},
		"an exchange account pays":       {QuoteRequest{Payer: "fx-EUR", Payee: "erin", Amount: "1.00"}, eur, jpy, ErrNotExchange},
		"an exchange account is paid":    {QuoteRequest{Payer: "alice", Payee: "fx-JPY", Amount: "1.00"}, eur, jpy, ErrNotExchange},
		"more decimals than EUR has":     {QuoteRequest{Payer: "alice", Payee: "erin", Amount: "1.001"}, eur, jpy, ErrInvalidAmount},
		"too little to buy a single yen": {QuoteRequest{Payer: "alice", Payee: "erin", Amount: "0.01"}, eur, jpy, ErrInvalidAmount},
	} {
		if _, err := NewQuote(c.r, c.from, c.to, rate, now, time.Second); !errors.Is(err, c.want) {
			t.Errorf("%s: NewQuote = %v, want %v", name, err, c.want)
		}
	}
}

func TestNewExchangeIsFourLegsBalancedInEachCurrency(t *testing.T) {
	t.Parallel()
	now := time.Now()
	q := Quote{ID: "Q", Payer: "alice", RequestID: "q-1", Payee: "erin", FromCurrency: "EUR", FromMinor: 1000,
		ToCurrency: "JPY", ToMinor: 1625, Rate: "162.5", ExpiresAt: now.Add(time.Second)}
	p, err := NewExchange(q, ExchangeRequest{Payer: "alice", RequestID: "x-1", QuoteRequestID: "q-1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []PaymentLeg{
		{Name: "debit.1", Account: "alice", Side: contract.SideDebit, Currency: "EUR", Amount: "10.00", AmountMinor: 1000, Counterparty: "erin"},
		{Name: "credit.2", Account: "fx-EUR", Side: contract.SideCredit, Currency: "EUR", Amount: "10.00", AmountMinor: 1000, Counterparty: "alice"},
		{Name: "debit.3", Account: "fx-JPY", Side: contract.SideDebit, Currency: "JPY", Amount: "1625", AmountMinor: 1625, Counterparty: "erin"},
		{Name: "credit.4", Account: "erin", Side: contract.SideCredit, Currency: "JPY", Amount: "1625", AmountMinor: 1625, Counterparty: "alice"},
	}
	for i, l := range p.Legs {
		if l != want[i] {
			t.Errorf("leg %d = %+v, want %+v", i+1, l, want[i])
		}
	}
	x := Exchange{Quote: "Q", Rate: "162.5", FromAmount: "10.00", FromCurrency: "EUR", ToAmount: "1625", ToCurrency: "JPY"}
	if p.Payer != "alice" || p.Currency != "EUR" || p.AmountMinor != 1000 || p.Exchange == nil || *p.Exchange != x {
		t.Fatalf("payment = %+v", p)
	}
}

func TestNewExchangeRefusesAQuoteUsedExpiredOrForAnotherTransfer(t *testing.T) {
	t.Parallel()
	now := time.Now()
	q := Quote{ID: "Q", Payer: "alice", RequestID: "q-1", Payee: "erin", FromCurrency: "EUR", FromMinor: 1000,
		ToCurrency: "JPY", ToMinor: 1625, Rate: "162.5", ExpiresAt: now.Add(time.Second)}
	used := q
	used.UsedBy = "P"
	for name, c := range map[string]struct {
		q    Quote
		r    ExchangeRequest
		at   time.Time
		want error
	}{
		"used":                       {used, ExchangeRequest{}, now, ErrQuoteUsed},
		"used and expired says used": {used, ExchangeRequest{}, now.Add(time.Hour), ErrQuoteUsed},
		"expired at its very moment": {q, ExchangeRequest{}, q.ExpiresAt, ErrQuoteExpired},
		"to another payee":           {q, ExchangeRequest{To: "bob"}, now, ErrQuoteMismatch},
		"another amount":             {q, ExchangeRequest{Amount: "10.01"}, now, ErrQuoteMismatch},
		"an amount EUR cannot hold":  {q, ExchangeRequest{Amount: "10.001"}, now, ErrQuoteMismatch},
	} {
		if _, err := NewExchange(c.q, c.r, c.at); !errors.Is(err, c.want) {
			t.Errorf("%s: NewExchange = %v, want %v", name, err, c.want)
		}
	}
	if _, err := NewExchange(q, ExchangeRequest{To: "erin", Amount: "10.0"}, now); err != nil {
		t.Errorf("the quote's payee and amount, written another way: %v", err)
	}
}

func TestBalancedChecksEachCurrencyOnItsOwn(t *testing.T) {
	t.Parallel()
	legs := []PaymentLeg{
		{Side: contract.SideDebit, Currency: "EUR", AmountMinor: 1000}, {Side: contract.SideCredit, Currency: "EUR", AmountMinor: 1000},
		{Side: contract.SideDebit, Currency: "JPY", AmountMinor: 1625}, {Side: contract.SideCredit, Currency: "JPY", AmountMinor: 1624},
	}
	if err := balanced(legs); !errors.Is(err, ErrInvalidPayment) {
		t.Fatalf("balanced = %v; want the yen legs refused, though the sums of all legs differ by one unit only", err)
	}
	legs[3].AmountMinor = 1625
	if err := balanced(legs); err != nil {
		t.Fatal(err)
	}
}

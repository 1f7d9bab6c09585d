package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/contract/decisionsig"
	"tsbank/services/coordinator/pgstore"
	"tsbank/services/coordinator/transfer"
	"tsbank/testkit"
)

// fxBank is a bank where alice (EUR, account-1, 100.00) pays erin (JPY, account-2) through the
// exchange accounts fx-EUR (account-1) and fx-JPY (account-2, funded with 100000 yen by a teller:
// the bank's liquidity), at 162.5 yen for a euro.
func fxBank(t *testing.T) *bank {
	b := startBank(t)
	b.setUpFX()
	return b
}

func (b *bank) setUpFX() {
	b.t.Helper()
	b.open("alice", "account-1", "EUR")
	b.open("erin", "account-2", "JPY")
	b.open("fx-EUR", "account-1", "EUR")
	b.open("fx-JPY", "account-2", "JPY")
	b.deposit("alice", "100.00")
	b.deposit("fx-JPY", "100000")
	if _, err := b.c.SetRate(ctx(b.t), contract.RateSetRequest{ID: "r-1", Base: "EUR", Quote: "JPY", Rate: "162.50"}); err != nil {
		b.t.Fatal(err)
	}
}

func (b *bank) quote(payer, id, to, amount string) (contract.Quote, error) {
	return b.c.Quote(ctx(b.t), payer, contract.QuoteRequest{ID: id, To: to, Amount: amount})
}

func (b *bank) mustQuote(payer, id, to, amount string) contract.Quote {
	b.t.Helper()
	q, err := b.quote(payer, id, to, amount)
	if err != nil {
		b.t.Fatalf("quote %s: %v", id, err)
	}
	return q
}

func (b *bank) exchange(payer, id, quote string) (contract.Transfer, error) {
	return b.c.Transfer(ctx(b.t), payer, contract.TransferRequest{ID: id, Quote: quote, Description: "fx " + id})
}

// totals sums the balances of every account of every node per currency (minor units).
func (b *bank) totals() map[string]int64 {
	b.t.Helper()
	out := map[string]int64{}
	for _, name := range nodeNames {
		rows, err := b.pool(name).Query(ctx(b.t), `SELECT currency, sum(balance)::int8 FROM accounts GROUP BY currency`)
		if err != nil {
			b.t.Fatal(err)
		}
		for rows.Next() {
			var c string
			var n int64
			if err := rows.Scan(&c, &n); err != nil {
				b.t.Fatal(err)
			}
			out[c] += n
		}
		rows.Close()
	}
	return out
}

func (b *bank) paymentsLogged() int {
	b.t.Helper()
	var n int
	if err := b.pool("coordinator").QueryRow(ctx(b.t), `SELECT count(*) FROM payments`).Scan(&n); err != nil {
		b.t.Fatal(err)
	}
	return n
}

func TestAnExchangeCreditsThePayeeInItsCurrencyAndConservesEachCurrency(t *testing.T) {
	t.Parallel()
	b := fxBank(t)
	b.startHistory()
	before := b.totals()
	q := b.mustQuote("alice", "q-1", "erin", "10.01")
	// 10.01 × 162.5 = 1626.625 yen: erin is credited 1626, rounded toward zero.
	if q.FromAmount != "10.01" || q.FromCurrency != "EUR" || q.ToAmount != "1626" || q.ToCurrency != "JPY" || q.Rate != "162.5" ||
		q.QuoteID == "" || time.Until(q.ExpiresAt) < 20*time.Second {
		t.Fatalf("quote = %+v", q)
	}
	if again := b.mustQuote("alice", "q-1", "erin", "10.01"); again.QuoteID != q.QuoteID {
		t.Fatalf("a retried quote = %+v, want %s", again, q.QuoteID)
	}
	tr, err := b.exchange("alice", "x-1", "q-1")
	if err != nil || tr.Status != contract.TransferCommitted || tr.From != "alice" || tr.To != "erin" || tr.Amount != "10.01" || tr.Currency != "EUR" {
		t.Fatalf("exchange = %+v, %v", tr, err)
	}
	want := contract.Exchange{Quote: q.QuoteID, Rate: "162.5", FromAmount: "10.01", FromCurrency: "EUR", ToAmount: "1626", ToCurrency: "JPY"}
	if tr.Exchange == nil || *tr.Exchange != want {
		t.Fatalf("exchange of the reply = %+v, want %+v", tr.Exchange, want)
	}
	b.settled()
	b.balances(t, map[string]string{"alice": "89.99", "fx-EUR": "10.01", "fx-JPY": "98374", "erin": "1626"})
	if after := b.totals(); after["EUR"] != before["EUR"] || after["JPY"] != before["JPY"] {
		t.Fatalf("totals per currency went from %v to %v", before, after)
	}
	if st, err := b.c.TransferStatus(ctx(t), "alice", "x-1"); err != nil || st.TransferID != tr.TransferID || !st.Done || st.Exchange == nil || *st.Exchange != want {
		t.Fatalf("status = %+v, %v", st, err)
	}
	if again, err := b.exchange("alice", "x-1", "q-1"); err != nil || again.TransferID != tr.TransferID {
		t.Fatalf("a retry = %+v, %v; want the same transfer", again, err)
	}

	// Both customers' rows carry both amounts, the rate and the quote; each in its own currency.
	if n := b.historyMatchesOutboxes(); n != 6 {
		t.Fatalf("%d events in the history, want 6 (two deposits and four legs)", n)
	}
	for _, w := range []struct{ account, typ, amount, currency, counterparty string }{
		{"alice", "transfer_out", "-10.01", "EUR", "erin"}, {"erin", "transfer_in", "1626", "JPY", "alice"},
		{"fx-EUR", "transfer_in", "10.01", "EUR", "alice"}, {"fx-JPY", "transfer_out", "-1626", "JPY", "erin"},
	} {
		var page contract.HistoryPage
		if err := b.c.Call(ctx(t), contract.HistorySubject(w.account, "query"), contract.HistoryQuery{TransferID: tr.TransferID}, &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Rows) != 1 {
			t.Fatalf("%s has %d rows of the exchange", w.account, len(page.Rows))
		}
		row := page.Rows[0]
		if row.Type != w.typ || row.Amount != w.amount || row.Currency != w.currency || row.Counterparty != w.counterparty || row.Exchange == nil || *row.Exchange != want {
			t.Errorf("%s's row = %+v (exchange %+v)", w.account, row, row.Exchange)
		}
	}
	var st contract.Statement
	if err := b.c.Call(ctx(t), contract.HistorySubject("erin", "statement"), contract.StatementRequest{From: "2000-01-01", To: "2100-01-01"}, &st); err != nil {
		t.Fatal(err)
	}
	if st.Currency != "JPY" || st.ClosingBalance != "1626" {
		t.Fatalf("erin's statement = %+v, want 1626 JPY", st)
	}
	b.reconciled()
}

func TestAQuoteIsRefusedUsedUnknownExpiredOrForAnotherTransferAndNothingIsLogged(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	b.coord.Stop(5 * time.Second)
	b.env["QUOTE_TTL"] = "300ms"
	b.startCoordinator()
	b.setUpFX()
	b.open("usd", "account-2", "USD")
	b.open("fx-USD", "account-2", "USD")
	b.open("bob", "account-2", "EUR")

	_, err := b.quote("alice", "q-usd", "usd", "1.00")
	wantCode(t, err, contract.CodeRateNotFound)
	_, err = b.quote("alice", "q-eur", "bob", "1.00")
	wantCode(t, err, contract.CodeBadRequest)
	_, err = b.quote("alice", "q-tiny", "erin", "0.001")
	wantCode(t, err, contract.CodeInvalidAmount)
	_, err = b.quote("alice", "q-none", "nobody", "1.00")
	wantCode(t, err, contract.CodeAccountNotFound)

	b.mustQuote("alice", "q-1", "erin", "10.00")
	_, err = b.c.Transfer(ctx(t), "alice", contract.TransferRequest{ID: "x-amount", Quote: "q-1", Amount: "9.00"})
	wantCode(t, err, contract.CodeQuoteMismatch)
	_, err = b.c.Transfer(ctx(t), "alice", contract.TransferRequest{ID: "x-to", Quote: "q-1", To: "usd"})
	wantCode(t, err, contract.CodeQuoteMismatch)
	_, err = b.exchange("alice", "x-unknown", "q-nope")
	wantCode(t, err, contract.CodeUnknownQuote)
	if n := b.paymentsLogged(); n != 0 {
		t.Fatalf("%d payments logged by refused transfers, want none", n)
	}

	// Two transfers race for one quote: one is logged, the other is told the quote is used.
	var wg sync.WaitGroup
	results := make([]error, 2)
	trs := make([]contract.Transfer, 2)
	for i := range results {
		wg.Go(func() { trs[i], results[i] = b.exchange("alice", fmt.Sprint("x-race-", i), "q-1") })
	}
	wg.Wait()
	committed := 0
	for i, err := range results {
		switch {
		case err == nil && trs[i].Status == contract.TransferCommitted:
			committed++
		default:
			wantCode(t, err, contract.CodeQuoteUsed)
		}
	}
	if committed != 1 {
		t.Fatalf("%d of two transfers with one quote committed (%v, %+v)", committed, results, trs)
	}

	q := b.mustQuote("alice", "q-2", "erin", "1.00")
	time.Sleep(time.Until(q.ExpiresAt) + 10*time.Millisecond) // the quote's own expiry is what is tested
	_, err = b.exchange("alice", "x-late", "q-2")
	wantCode(t, err, contract.CodeQuoteExpired)
	if n := b.paymentsLogged(); n != 1 {
		t.Fatalf("%d payments logged, want the one exchange", n)
	}
	// A retry of the exchange that used q-1 is answered as it was, though q-1 has expired too.
	winner := 0
	if results[0] != nil {
		winner = 1
	}
	if again, err := b.exchange("alice", fmt.Sprint("x-race-", winner), "q-1"); err != nil || again.TransferID != trs[winner].TransferID {
		t.Fatalf("a retry after the quote expired = %+v, %v", again, err)
	}
	// The payer's request ids are one namespace: an id of a transfer is not an exchange's.
	b.open("carl", "account-1", "EUR")
	if tr, err := b.c.Transfer(ctx(t), "alice", contract.TransferRequest{ID: "t-1", To: "carl", Amount: "1.00"}); err != nil || tr.Status != contract.TransferCommitted {
		t.Fatalf("transfer = %+v, %v", tr, err)
	}
	b.mustQuote("alice", "q-3", "erin", "1.00")
	_, err = b.exchange("alice", "t-1", "q-3")
	wantCode(t, err, contract.CodeConflict)
	b.settled()
	b.balances(t, map[string]string{"alice": "89.00", "erin": "1625", "fx-EUR": "10.00", "fx-JPY": "98375", "carl": "1.00"})
}

// logExchange logs an exchange of 10.00 EUR to erin as a coordinator does before preparing it:
// a quote, then the payment of four legs that uses it.
func (b *bank) logExchange(id string) transfer.Payment {
	b.t.Helper()
	store := pgstore.New(b.pool("coordinator"), time.Second, testkit.Logger(b.t))
	now := time.Now()
	q := transfer.Quote{ID: "quote-" + id, Payer: "alice", RequestID: "q-" + id, Fingerprint: []byte(id), Payee: "erin",
		FromCurrency: "EUR", FromMinor: 1000, ToCurrency: "JPY", ToMinor: 1625, Rate: "162.5", RateID: "r-1", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	if _, err := store.SaveQuote(ctx(b.t), q); err != nil {
		b.t.Fatal(err)
	}
	r := transfer.ExchangeRequest{Payer: "alice", RequestID: "x-" + id, Fingerprint: []byte(id), QuoteRequestID: q.RequestID}
	p, created, err := store.LogExchange(ctx(b.t), r, func(q transfer.Quote) (transfer.Payment, error) {
		p, err := transfer.NewExchange(q, r, time.Now())
		p.ID = id
		return p, err
	})
	if err != nil || !created {
		b.t.Fatalf("log exchange %s: %v", id, err)
	}
	return p
}

var fxNodes = []string{"account-1", "account-1", "account-2", "account-2"}

// prepareExchangeLegs sends every leg's prepare of exchange p, signed as the coordinator does,
// exchange included, and wants a yes from each.
func (b *bank) prepareExchangeLegs(p transfer.Payment) {
	b.t.Helper()
	x := p.Exchange
	for i, l := range p.Legs {
		req := contract.PrepareRequest{TransferID: p.ID, Leg: l.Name, Amount: l.Amount, Counterparty: p.Counterparty(l),
			Exchange: &contract.Exchange{Quote: x.Quote, Rate: x.Rate, FromAmount: x.FromAmount, FromCurrency: x.FromCurrency, ToAmount: x.ToAmount, ToCurrency: x.ToCurrency}}
		req.Sig = b.sign(decisionsig.Prepare(l.Account, req))
		var v contract.Vote
		if err := b.c.Call(ctx(b.t), contract.NodeAccountSubject(fxNodes[i], l.Account, contract.OpPrepare), req, &v); err != nil || !v.Yes {
			b.t.Fatalf("prepare %s %s: %+v, %v", p.ID, l.Name, v, err)
		}
	}
}

// TestCoordinatorDeadMidExchangeIsFinishedByRecovery stops the coordinator with two exchanges in
// its log, every leg prepared on both nodes: fx1 never decided, fx2 decided (commit) but never
// sent. The restarted coordinator aborts fx1 (its holds are released, in both currencies; its
// quote stays used: a new transfer needs a new quote) and delivers fx2's commit to all four legs.
func TestCoordinatorDeadMidExchangeIsFinishedByRecovery(t *testing.T) {
	t.Parallel()
	b := fxBank(t)
	b.startHistory()
	before := b.totals()
	b.coord.Stop(5 * time.Second)
	fx1, fx2 := b.logExchange("fx1"), b.logExchange("fx2")
	b.prepareExchangeLegs(fx1)
	b.prepareExchangeLegs(fx2)
	b.decidePayment("fx2", contract.TransferCommitted, len(fx2.Legs))
	b.startCoordinator()
	b.settled()
	if got := b.paymentOutcome("fx1"); got != contract.TransferAborted {
		t.Fatalf("fx1 is %s, want aborted", got)
	}
	if got := b.paymentOutcome("fx2"); got != contract.TransferCommitted {
		t.Fatalf("fx2 is %s, want committed", got)
	}
	b.balances(t, map[string]string{"alice": "90.00", "fx-EUR": "10.00", "fx-JPY": "98375", "erin": "1625"})
	if after := b.totals(); after["EUR"] != before["EUR"] || after["JPY"] != before["JPY"] {
		t.Fatalf("totals per currency went from %v to %v", before, after)
	}
	_, err := b.exchange("alice", "x-again", "q-fx1")
	wantCode(t, err, contract.CodeQuoteUsed)
	b.historyMatchesOutboxes()
	b.reconciled()
}

// TestANodeDeadMidExchangeCommitsWhenItIsBack: account-2 (erin's and fx-JPY's node) dies after
// its legs voted yes; the commit reaches account-1's legs at once and account-2's once it is
// back, and erin's event still carries the exchange.
func TestANodeDeadMidExchangeCommitsWhenItIsBack(t *testing.T) {
	t.Parallel()
	b := fxBank(t)
	b.startHistory()
	b.coord.Stop(5 * time.Second)
	p := b.logExchange("fn1")
	b.prepareExchangeLegs(p)
	b.stopNode("account-2")
	b.decidePayment("fn1", contract.TransferCommitted, len(p.Legs))
	b.startCoordinator()
	testkit.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		for _, leg := range []string{"debit.1", "credit.2"} {
			if got := b.legState("account-1", "fn1", leg); got != "committed" {
				return fmt.Errorf("leg %s %q", leg, got)
			}
		}
		return nil
	})
	b.startNode("account-2")
	b.settled()
	b.balances(t, map[string]string{"alice": "90.00", "fx-EUR": "10.00", "fx-JPY": "98375", "erin": "1625"})
	b.historyMatchesOutboxes()
	var page contract.HistoryPage
	if err := b.c.Call(ctx(t), contract.HistorySubject("erin", "query"), contract.HistoryQuery{TransferID: "fn1"}, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Rows) != 1 || page.Rows[0].Exchange == nil || page.Rows[0].Exchange.Quote != "quote-fn1" || page.Rows[0].Exchange.FromAmount != "10.00" {
		t.Fatalf("erin's rows = %+v", page.Rows)
	}
	b.reconciled()
}

package natsapi

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/micro"

	"tsbank/contract"
	"tsbank/contract/money"
	"tsbank/services/coordinator/transfer"
)

func (a *API) setRate(ctx context.Context, _ micro.Request, r contract.RateSetRequest) (any, *contract.Error) {
	if e := contract.CheckID("id", r.ID); e != nil {
		return nil, e
	}
	if e := contract.CheckDescription(r.By); e != nil {
		return nil, e
	}
	var from time.Time
	if r.ValidFrom != "" {
		var err error
		if from, err = time.Parse(time.RFC3339Nano, r.ValidFrom); err != nil {
			return nil, contract.Errorf(contract.CodeBadRequest, `valid_from %q: send an RFC 3339 time such as "2026-12-01T10:00:00Z", or leave it out for now`, r.ValidFrom)
		}
	}
	rate, err := transfer.NewRate(r.ID, rateFingerprint(r), r.Base, r.Quote, r.Rate, from, a.Coordinator.Now(), r.By)
	if err == nil {
		rate, err = a.Coordinator.SetRate(ctx, rate)
	}
	if err != nil {
		return nil, a.toWire(ctx, err)
	}
	return wireRate(rate), nil
}

func (a *API) rates(ctx context.Context, _ micro.Request, r contract.RatesRequest) (any, *contract.Error) {
	rates, err := a.Coordinator.Rates(ctx, r.Base, r.Quote, r.History)
	if err != nil {
		return nil, a.toWire(ctx, err)
	}
	list := contract.RateList{Rates: []contract.Rate{}}
	for _, rt := range rates {
		list.Rates = append(list.Rates, wireRate(rt))
	}
	return list, nil
}

func wireRate(r transfer.Rate) contract.Rate {
	return contract.Rate{ID: r.RequestID, Base: r.Base, Quote: r.Quote, Rate: r.Rate, ValidFrom: r.ValidFrom, SetAt: r.SetAt, SetBy: r.SetBy}
}

func (a *API) quote(ctx context.Context, req micro.Request, r contract.QuoteRequest) (any, *contract.Error) {
	payer := contract.Token(req.Subject(), "account")
	e := contract.CheckID("paying account", payer)
	if e == nil {
		e = contract.CheckID("id", r.ID)
	}
	if e == nil {
		e = contract.CheckID("to", r.To)
	}
	if e == nil && r.To == payer {
		e = contract.Errorf(contract.CodeSameAccount, "%s cannot pay itself: send another account in \"to\"", payer)
	}
	if e == nil {
		if err := money.CheckSyntax(r.Amount); err != nil {
			e = contract.Errorf(contract.CodeInvalidAmount, "%s", err)
		}
	}
	if e != nil {
		return nil, e
	}
	q, err := a.Coordinator.Quote(ctx, transfer.QuoteRequest{Payer: payer, RequestID: r.ID, Fingerprint: quoteFingerprint(r),
		Payee: r.To, Amount: r.Amount})
	if err != nil {
		return nil, a.toWire(ctx, err)
	}
	return wireQuote(q), nil
}

func wireQuote(q transfer.Quote) contract.Quote {
	w := contract.Quote{ID: q.RequestID, QuoteID: q.ID, From: q.Payer, To: q.Payee, FromCurrency: q.FromCurrency,
		ToCurrency: q.ToCurrency, Rate: q.Rate, ExpiresAt: q.ExpiresAt, UsedBy: q.UsedBy}
	if c, err := money.LookupCurrency(q.FromCurrency); err == nil {
		w.FromAmount = money.Format(q.FromMinor, c)
	}
	if c, err := money.LookupCurrency(q.ToCurrency); err == nil {
		w.ToAmount = money.Format(q.ToMinor, c)
	}
	return w
}

// exchange runs a cross-currency transfer: r names a quote of from.
func (a *API) exchange(ctx context.Context, from string, r contract.TransferRequest) (any, *contract.Error) {
	p, err := a.Coordinator.Exchange(ctx, transfer.ExchangeRequest{Payer: from, RequestID: r.ID, Fingerprint: transferFingerprint(r),
		QuoteRequestID: r.Quote, To: r.To, Amount: r.Amount, Description: r.Description})
	traced(ctx, p.ID)
	if err != nil {
		return nil, a.logError(ctx, err, "transfer", r.ID, contract.TransferStatusSubject(from))
	}
	return WireExchange(p), nil
}

// WireExchange is a cross-currency transfer (a payment of four legs) as its payer sees it: a
// transfer from the payer to the payee, of the payer's amount, with its exchange.
func WireExchange(p transfer.Payment) contract.Transfer {
	status := p.State
	if p.Outcome != "" {
		status = p.Outcome
	}
	w := contract.Transfer{ID: p.RequestID, TransferID: p.ID, From: p.Payer, Currency: p.Currency, Status: status,
		Reason: p.Reason, Message: p.Message, Done: p.State == transfer.Done, CreatedAt: p.CreatedAt, DecidedAt: p.DecidedAt}
	if n := len(p.Legs); n > 0 {
		w.To = p.Legs[n-1].Account // the payee's credit is the last leg (transfer.NewExchange)
	}
	if x := p.Exchange; x != nil {
		w.Amount = x.FromAmount
		w.Exchange = &contract.Exchange{Quote: x.Quote, Rate: x.Rate, FromAmount: x.FromAmount, FromCurrency: x.FromCurrency,
			ToAmount: x.ToAmount, ToCurrency: x.ToCurrency}
	}
	return w
}

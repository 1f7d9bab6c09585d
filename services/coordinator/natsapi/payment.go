package natsapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/micro"

	"tsbank/contract"
	"tsbank/contract/money"
	"tsbank/services/coordinator/transfer"
)

func (a *API) payment(ctx context.Context, req micro.Request, r contract.PaymentRequest) (any, *contract.Error) {
	if e := checkPayment(&r); e != nil {
		return nil, e
	}
	pr := transfer.PaymentRequest{RequestID: r.ID, Description: r.Description}
	for _, l := range r.Legs {
		pr.Legs = append(pr.Legs, transfer.LegRequest{Account: l.Account, Amount: l.Amount, Side: l.Side})
	}
	pr.Fingerprint = paymentFingerprint(r)
	p, err := a.Coordinator.Pay(ctx, pr)
	traced(ctx, p.ID)
	if err != nil {
		return nil, a.logError(ctx, err, "payment", r.ID, contract.SubjectPaymentStatus)
	}
	return WirePayment(p), nil
}

// checkPayment refuses what is wrong with a payment request itself, before anything is logged;
// the coordinator then checks the legs against each other and their accounts (transfer.NewPayment).
func checkPayment(r *contract.PaymentRequest) *contract.Error {
	if r.ID == "" {
		return contract.Errorf(contract.CodeInvalidID, `id is missing: send a client-chosen id such as {"id":"p-1",...} so that a retry is applied once`)
	}
	if e := contract.CheckID("id", r.ID); e != nil {
		return e
	}
	for i, l := range r.Legs {
		if e := contract.CheckID(fmt.Sprintf("legs[%d].account", i), l.Account); e != nil {
			return e
		}
		if err := money.CheckSyntax(l.Amount); err != nil {
			return contract.Errorf(contract.CodeInvalidAmount, "legs[%d] (%s): %s", i, l.Account, err)
		}
	}
	return contract.CheckDescription(r.Description)
}

func (a *API) paymentStatus(ctx context.Context, _ micro.Request, r contract.PaymentStatusRequest) (any, *contract.Error) {
	if e := contract.CheckID("id", r.ID); e != nil {
		return nil, e
	}
	p, err := a.Coordinator.PaymentStatus(ctx, r.ID)
	if errors.Is(err, transfer.ErrNotFound) {
		return nil, contract.Errorf(contract.CodeUnknownPayment, "no payment with request id %q", r.ID)
	}
	if err != nil {
		return nil, a.toWire(ctx, err)
	}
	return WirePayment(p), nil
}

// WirePayment is a payment of the log as clients see it.
func WirePayment(p transfer.Payment) contract.Payment {
	status := p.State
	if p.Outcome != "" {
		status = p.Outcome
	}
	w := contract.Payment{
		ID: p.RequestID, PaymentID: p.ID, Currency: p.Currency, Description: p.Description, Status: status,
		Reason: p.Reason, Message: p.Message, Done: p.State == transfer.Done, CreatedAt: p.CreatedAt, DecidedAt: p.DecidedAt,
		Legs: make([]contract.PaymentLeg, len(p.Legs)),
	}
	if c, err := money.LookupCurrency(p.Currency); err == nil {
		w.Amount = money.Format(p.AmountMinor, c)
	}
	for i, l := range p.Legs {
		w.Legs[i] = contract.PaymentLeg{Leg: l.Name, Account: l.Account, Side: l.Side, Amount: l.Amount, Vote: l.Vote, Acked: l.Acked}
	}
	return w
}

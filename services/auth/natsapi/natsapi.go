// Package natsapi is the auth service's NATS edge for people and programs of the BANK account:
// the operator's customer directory (bank.customers.*) and the customer's own question "which
// accounts are mine" (bank.customer.<id>.accounts, exported to CUSTOMERS). Changes apply at the
// customer's next connection.
package natsapi

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/micro"

	"tsbank/contract"
	"tsbank/platform/service"
	"tsbank/services/auth/customer"
)

// API serves the customer directory.
type API struct {
	Directory *customer.Directory
	Log       *slog.Logger
	Timeout   time.Duration
}

// AddEndpoints registers the endpoints of the table the customer directory serves, each handler
// decorated by wrap.
func (a *API) AddEndpoints(svc *service.Server, wrap func(string, micro.Handler) micro.Handler) error {
	return service.Register(svc, contract.RoleCustomers, nil, []service.Handler{
		service.Endpoint("add", `Add a customer: {"id":"<request id>","customer":"carol","password":"<12 to 72 bytes>","accounts":["carol"]}`, handle(a, a.add)),
		service.Endpoint("grant", `Give a customer an account, from their next login: {"customer":"carol","account":"carol-savings"}`, handle(a, a.grant)),
		service.Endpoint("revoke", `Take an account from a customer, from their next login: {"customer":"carol","account":"carol-savings"}`, handle(a, a.revoke)),
		service.Endpoint("password", `Set a customer's password, from their next login: {"customer":"carol","password":"…"}`, handle(a, a.password)),
		service.Endpoint("disable", `Refuse a customer's next logins: {"customer":"carol"}`, handle(a, a.disable)),
		service.Endpoint("get", `One customer: {"customer":"carol"}`, handle(a, a.get)),
		service.Endpoint("list", `Every customer`, handle(a, a.list)),
		service.Endpoint("accounts", "The accounts of the customer in the subject (empty body)", a.accounts),
	}, wrap)
}

// handle is fn as a typed handler (service.Typed), its errors mapped to the wire by wireError.
// The work runs to its timeout whatever the caller's deadline (Detached), as the customer
// directory's requests always have.
func handle[Req any](a *API, fn func(context.Context, Req) (any, error)) micro.HandlerFunc {
	return service.Typed(a.Timeout, func(ctx context.Context, _ micro.Request, r Req) (any, *contract.Error) {
		reply, err := fn(ctx, r)
		if err != nil {
			return nil, a.wireError(err)
		}
		return reply, nil
	}, service.Detached())
}

func (a *API) add(ctx context.Context, r contract.AddCustomerRequest) (any, error) {
	if e := checkIDs("id", r.ID, "customer", r.Customer); e != nil {
		return nil, e
	}
	if len(r.Accounts) == 0 {
		return nil, contract.Errorf(contract.CodeBadRequest, `a customer needs at least one account: send "accounts":["%s"]`, r.Customer)
	}
	for _, acc := range r.Accounts {
		if e := contract.CheckID("account", acc); e != nil {
			return nil, e
		}
	}
	c, err := a.Directory.Add(ctx, r.ID, r.Customer, r.Password, r.Accounts)
	return wire(c), err
}

func (a *API) grant(ctx context.Context, r contract.CustomerAccountRequest) (any, error) {
	if e := checkIDs("customer", r.Customer, "account", r.Account); e != nil {
		return nil, e
	}
	c, err := a.Directory.Grant(ctx, r.Customer, r.Account)
	return wire(c), err
}

func (a *API) revoke(ctx context.Context, r contract.CustomerAccountRequest) (any, error) {
	if e := checkIDs("customer", r.Customer, "account", r.Account); e != nil {
		return nil, e
	}
	c, err := a.Directory.Revoke(ctx, r.Customer, r.Account)
	return wire(c), err
}

func (a *API) password(ctx context.Context, r contract.CustomerPasswordRequest) (any, error) {
	if e := contract.CheckID("customer", r.Customer); e != nil {
		return nil, e
	}
	c, err := a.Directory.SetPassword(ctx, r.Customer, r.Password)
	return wire(c), err
}

func (a *API) disable(ctx context.Context, r contract.CustomerRequest) (any, error) {
	if e := contract.CheckID("customer", r.Customer); e != nil {
		return nil, e
	}
	c, err := a.Directory.Disable(ctx, r.Customer)
	return wire(c), err
}

func (a *API) get(ctx context.Context, r contract.CustomerRequest) (any, error) {
	if e := contract.CheckID("customer", r.Customer); e != nil {
		return nil, e
	}
	c, err := a.Directory.Get(ctx, r.Customer)
	return wire(c), err
}

func (a *API) list(ctx context.Context, _ struct{}) (any, error) {
	cs, err := a.Directory.List(ctx)
	l := contract.CustomerList{Customers: make([]contract.Customer, 0, len(cs))}
	for _, c := range cs {
		l.Customers = append(l.Customers, wire(c))
	}
	return l, err
}

// accounts answers bank.customer.<id>.accounts. The customer is the subject's, which the
// customer's permissions fix to their own id.
func (a *API) accounts(req micro.Request) {
	id := contract.Token(req.Subject(), "customer")
	handle(a, func(ctx context.Context, _ struct{}) (any, error) {
		if e := contract.CheckID("customer", id); e != nil {
			return nil, e
		}
		c, err := a.Directory.Get(ctx, id)
		return contract.CustomerAccounts{Customer: c.ID, Accounts: c.Accounts}, err
	})(req)
}

// checkIDs checks pairs of (what, id).
func checkIDs(whatA, a, whatB, b string) *contract.Error {
	if e := contract.CheckID(whatA, a); e != nil {
		return e
	}
	return contract.CheckID(whatB, b)
}

// wire is the operator's view of c: never the password hash.
func wire(c customer.Customer) contract.Customer {
	accounts := c.Accounts
	if accounts == nil {
		accounts = []string{}
	}
	return contract.Customer{Customer: c.ID, Accounts: accounts, Disabled: c.Disabled, CreatedAt: c.CreatedAt}
}

// wireError maps a domain error to its wire code; an unexpected error is logged once, here.
func (a *API) wireError(err error) *contract.Error {
	var e *contract.Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, customer.ErrNotFound):
		return contract.Errorf(contract.CodeCustomerNotFound, "%s: add the customer first (bank.customers.add)", err)
	case errors.Is(err, customer.ErrExists):
		return contract.Errorf(contract.CodeCustomerExists, "%s: choose another id, or grant the account to the existing customer", err)
	case errors.Is(err, customer.ErrAccountOwned):
		return contract.Errorf(contract.CodeAccountOwned, "%s: revoke it from its owner first", err)
	case errors.Is(err, customer.ErrConflict):
		return contract.Errorf(contract.CodeConflict, "%s", err)
	case errors.Is(err, customer.ErrBadPassword):
		return contract.Errorf(contract.CodeBadRequest, "%s", err)
	case errors.Is(err, context.DeadlineExceeded):
		return contract.Errorf(contract.CodeTimeout, "no answer in %s: try again", a.Timeout)
	}
	a.Log.Error("internal error", "err", err)
	return contract.Errorf(contract.CodeInternal, "the auth service failed: try again")
}

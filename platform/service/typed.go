package service

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/micro"

	"tsbank/contract"
)

// Typed is the preamble and the reply that every request handler shares, written once: it
// decodes the request's body into a Req (refusing unknown and duplicate fields, contract.Decode),
// gives the work a context that ends after timeout or at the request's deadline (Context), and
// answers what do returns, a reply or a contract error. do gets the request too, for the tokens of
// its subject. An empty body decodes as Req's zero value, as for requests that take no fields.
func Typed[Req any](timeout time.Duration, do func(ctx context.Context, req micro.Request, r Req) (any, *contract.Error)) micro.HandlerFunc {
	return func(req micro.Request) {
		var r Req
		if e := contract.Decode(req.Data(), &r); e != nil {
			Respond(req, nil, e)
			return
		}
		ctx, cancel := Context(req, timeout)
		defer cancel()
		reply, e := do(ctx, req, r)
		Respond(req, reply, e)
	}
}

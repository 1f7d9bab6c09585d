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
// answers what do returns: a reply, encoded as JSON unless it is a Raw, or a contract error. do
// gets the request too, for the tokens of its subject. An empty body decodes as Req's zero value.
func Typed[Req any](timeout time.Duration, do func(ctx context.Context, req micro.Request, r Req) (any, *contract.Error), opts ...TypedOption) micro.HandlerFunc {
	o := typedOptions{maxBody: contract.MaxPayload}
	for _, opt := range opts {
		opt(&o)
	}
	return func(req micro.Request) {
		var r Req
		if e := contract.DecodeLimit(req.Data(), &r, o.maxBody); e != nil {
			Respond(req, nil, e)
			return
		}
		var ctx context.Context
		var cancel context.CancelFunc
		if o.detached {
			ctx, cancel = context.WithTimeout(Traced(req), timeout)
		} else {
			ctx, cancel = Context(req, timeout)
		}
		defer cancel()
		reply, e := do(ctx, req, r)
		if raw, ok := reply.(Raw); ok && e == nil {
			raw.respond(req)
			return
		}
		Respond(req, reply, e)
	}
}

// Raw is a reply that is not plain JSON: a body already encoded (a table, a CSV page) or a JSON
// value with headers.
type Raw struct {
	Body    []byte // sent as it is, when set
	JSON    any    // otherwise encoded as JSON
	Headers micro.Headers
}

func (r Raw) respond(req micro.Request) {
	var opts []micro.RespondOpt
	if len(r.Headers) > 0 {
		opts = append(opts, micro.WithHeaders(r.Headers))
	}
	if r.Body != nil {
		_ = req.Respond(r.Body, opts...)
		return
	}
	_ = req.RespondJSON(r.JSON, opts...)
}

// TypedOption changes how a typed handler runs.
type TypedOption func(*typedOptions)

type typedOptions struct {
	detached bool
	maxBody  int
}

// Detached runs the work until its timeout even when the caller stops waiting first: for work
// that is not to be left half done with no one to finish it (a transfer being logged and decided,
// a whole-bank reconciliation asked for with a long client timeout).
func Detached() TypedOption { return func(o *typedOptions) { o.detached = true } }

// MaxBody accepts bodies of up to n bytes instead of contract.MaxPayload (a batch of legs).
func MaxBody(n int) TypedOption { return func(o *typedOptions) { o.maxBody = n } }

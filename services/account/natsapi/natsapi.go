// Package natsapi is the account node's NATS edge: it registers the micro endpoints, routes each
// account request to the node that owns the account, decodes and checks requests, calls the
// account service and maps its errors to the contract's codes.
package natsapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"tsbank/contract"
	"tsbank/contract/decisionsig"
	"tsbank/platform/service"
	"tsbank/services/account/account"
	"tsbank/services/account/registry"
)

// API serves one account node's requests.
type API struct {
	Node     string
	Service  *account.Service
	Registry *registry.Registry
	Nodes    *registry.Nodes
	NC       *nats.Conn
	Log      *slog.Logger
	// Timeout bounds the handling of one request, including a forward to another node.
	Timeout time.Duration
	// Coordinators verifies that a prepare, commit or abort is the coordinator's: anyone who may
	// publish on bank.node subjects could otherwise credit an account with no debit.
	Coordinators *decisionsig.Verifier

	liveMu    sync.Mutex
	liveNodes map[string]bool
	liveAt    time.Time
}

// AddEndpoints registers the endpoints of the table an account node serves (contract.Endpoints):
// reads and opens, which any node receives and routes to the owner; money requests, which every
// node receives and only the owner answers, so they are never forwarded and no node's user needs
// the right to send them to another node (docs/adr/0021); and this node's own subjects, to which
// other nodes forward and the coordinator sends the two-phase commit. wrap decorates every
// handler (metrics, concurrency); its first argument is the endpoint's name.
func (a *API) AddEndpoints(svc *service.Server, wrap func(string, micro.Handler) micro.Handler) error {
	route := func(op string) micro.HandlerFunc { return func(req micro.Request) { a.route(req, op) } }
	owner := func(op string) micro.HandlerFunc { return func(req micro.Request) { a.serveIfOwner(req, op) } }
	own := func(op string) micro.HandlerFunc { return func(req micro.Request) { a.serveOwn(req, op) } }
	return service.Register(svc, contract.RoleNode, map[string]string{"node": a.Node}, []service.Handler{
		service.Endpoint("open", `Open the account in the subject, with no overdraft: {"id":"<request id>","currency":"EUR","node":"<optional>"}`, route(contract.OpOpen)),
		service.Endpoint("get", "The account's state, balances and owning node", route(contract.OpGet)),
		service.Endpoint("balance", "The account's ledger balance, amount on hold and available balance", route(contract.OpBalance)),
		service.Endpoint("deposit", `Operators (tellers) only: deposit: {"id":"<request id>","amount":"12.50","description":"<optional>"}`, owner(contract.OpDeposit)),
		service.Endpoint("withdraw", `Withdraw: {"id":"<request id>","amount":"12.50","description":"<optional>"}`, owner(contract.OpWithdraw)),
		service.Endpoint("close", `Close an account with zero balance and no holds: {"id":"<request id>"}`, owner(contract.OpClose)),
		service.Endpoint("limit", `Operators only: set the overdraft limit: {"id":"<request id>","overdraft_limit":"50.00"}`, owner(contract.OpLimit)),
		service.Endpoint("whereis", "The node that owns the account", a.whereis),
		service.Endpoint("open_generated", `Open an account with an id derived from the request id: {"id":"<request id>","currency":"EUR"}`, a.openGenerated),
		service.Endpoint("list", `Accounts in id order: {"node":"<optional>","after":"<last id>","limit":100}`, service.Typed(a.Timeout, a.list)),
		service.Endpoint("nodes", "The live account nodes", service.Typed(a.Timeout, a.nodes)),
		service.Endpoint("node_open", "Forwarded open for an account this node owns", own(contract.OpOpen)),
		service.Endpoint("node_get", "Forwarded get for an account this node owns", own(contract.OpGet)),
		service.Endpoint("node_balance", "Forwarded balance for an account this node owns", own(contract.OpBalance)),
		service.Endpoint("node_list", "This node's accounts in id order", service.Typed(a.Timeout, a.listOwn)),
		service.Endpoint("node_prepare", "Two-phase commit: prepare a transfer leg (signed by the coordinator)", own(contract.OpPrepare)),
		service.Endpoint("node_commit", "Two-phase commit: commit a transfer leg (signed by the coordinator)", own(contract.OpCommit)),
		service.Endpoint("node_abort", "Two-phase commit: abort a transfer leg (signed by the coordinator)", own(contract.OpAbort)),
		service.Endpoint("node_move", "Moving an account: one step, signed by the coordinator", service.Typed(a.Timeout, a.moveStep, service.MaxBody(contract.MaxBatchPayload))),
		service.Endpoint("node_legs", `Two-phase commit: many steps in one transaction, signed once by the coordinator: {"steps":[{"op":"prepare","account":"alice","transfer_id":"…","leg":"debit","amount":"1.00","counterparty":"bob"}],"sig":"…"}`, service.Typed(a.Timeout, a.legs, service.MaxBody(contract.MaxBatchPayload))),
	}, wrap)
}

// route serves op on the account in bank.account.<id>.<op> here if this node owns it, and
// otherwise forwards it to the owner and relays the owner's reply (see docs/adr/0002).
func (a *API) route(req micro.Request, op string) {
	a.routeTo(req, contract.Token(req.Subject(), "account"), op)
}

func (a *API) routeTo(req micro.Request, id, op string) {
	ctx, cancel := service.Context(req, a.Timeout)
	defer cancel()
	if e := contract.CheckID("account id", id); e != nil {
		service.Respond(req, nil, e)
		return
	}
	// Whoever owns the account answers, an open included: a retried open that lands on another
	// node must reach the owner to get its first reply.
	owner, err := a.Registry.Whereis(ctx, id)
	placing := false // a new account, on the node the request names
	switch {
	case err == nil:
	case !errors.Is(err, registry.ErrNotFound):
		service.Respond(req, nil, a.internal("whereis", err))
		return
	case op != contract.OpOpen:
		service.Respond(req, nil, notFound(id))
		return
	default:
		// A new account goes to the node the request names, or stays on this one: the queue group
		// already spread requests over the live nodes at random.
		r, e := decodeOpen(id, req.Data())
		if e != nil {
			service.Respond(req, nil, e)
			return
		}
		owner = a.Node
		if r.Node != "" {
			if e := contract.CheckID("node", r.Node); e != nil {
				service.Respond(req, nil, e)
				return
			}
			owner, placing = r.Node, r.Node != a.Node
		}
	}
	if owner == a.Node {
		reply, e := a.serve(ctx, op, id, req.Data())
		if e == nil || e.Code != contract.CodeAccountMoved {
			service.Respond(req, reply, e)
			return
		}
		// It has just moved away (serve forgot the owner): ask the registry again.
		if owner, err = a.Registry.Whereis(ctx, id); err != nil || owner == a.Node {
			service.Respond(req, reply, e)
			return
		}
	}
	a.forward(ctx, req, owner, id, op, placing, false)
}

// serveIfOwner serves op on the account in bank.account.<id>.<op> if this node owns it. Every
// node receives the request; a node that does not own the account stays silent, unless no node
// can answer: an account no one registered is not found (each node may say so; the client keeps
// the first answer), and an owner that is not running is unavailable.
func (a *API) serveIfOwner(req micro.Request, op string) {
	ctx, cancel := service.Context(req, a.Timeout)
	defer cancel()
	id, owner, ok := a.owner(ctx, req)
	switch {
	case !ok:
	case owner == a.Node:
		reply, e := a.serve(ctx, op, id, req.Data())
		if e != nil && e.Code == contract.CodeAccountMoved {
			return // it has moved away: its new node answers
		}
		service.Respond(req, reply, e)
	case !a.live(ctx, owner):
		// The owner may have been remembered from before the account moved: look again before
		// saying it is down.
		a.Registry.Forget(id)
		if fresh, err := a.Registry.Whereis(ctx, id); err == nil && fresh != owner {
			if fresh == a.Node {
				reply, e := a.serve(ctx, op, id, req.Data())
				service.Respond(req, reply, e)
			}
			return
		}
		service.Respond(req, nil, contract.Errorf(contract.CodeNodeUnavailable,
			"node %s, which owns account %s, is not running: retry later with the same request id", owner, id))
	}
}

// live tells whether node is in the list of live nodes, read at most once a second (on the
// service's clock): it is asked for every money request a node does not own.
func (a *API) live(ctx context.Context, node string) bool {
	a.liveMu.Lock()
	defer a.liveMu.Unlock()
	if now := a.Service.Now(); now.Sub(a.liveAt) > time.Second {
		if nodes, err := a.Nodes.List(ctx); err == nil {
			a.liveNodes, a.liveAt = map[string]bool{}, now
			for _, n := range nodes {
				a.liveNodes[n.Name] = true
			}
		} else if a.liveNodes == nil {
			return true // unknown: stay silent, as when it is running
		}
	}
	return a.liveNodes[node]
}

// forward sends the request to the owning node (or, placing, to the node an open names) and relays
// its reply, headers included (an owner that answers that the account moved away is forgotten and
// the request sent once more, rerouted, to its new owner), so the client sees the owner's answer or a clear
// node_unavailable/node_not_found/timeout instead of silence.
func (a *API) forward(ctx context.Context, req micro.Request, node, id, op string, placing, rerouted bool) {
	msg := nats.NewMsg(contract.NodeAccountSubject(node, id, op))
	msg.Data = req.Data()
	resp, err := a.NC.RequestMsgWithContext(ctx, msg)
	switch {
	case errors.Is(err, nats.ErrNoResponders) && placing:
		service.Respond(req, nil, a.noSuchNode(ctx, node, id))
	case errors.Is(err, nats.ErrNoResponders):
		service.Respond(req, nil, contract.Errorf(contract.CodeNodeUnavailable,
			"node %s, which owns account %s, is not running: retry later with the same request id", node, id))
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
		service.Respond(req, nil, contract.Errorf(contract.CodeTimeout,
			"node %s did not answer in %s: the request may or may not have been applied; retry with the same request id to learn which", node, a.Timeout))
	case err != nil:
		service.Respond(req, nil, a.internal("forward", err))
	case movedReply(resp.Data, resp.Header.Get(contract.ErrorCodeHeader)) && !placing && !rerouted:
		// The owner this node remembered has let the account go: ask the registry again, once.
		a.Registry.Forget(id)
		if fresh, err := a.Registry.Whereis(ctx, id); err == nil && fresh != node && fresh != a.Node {
			a.forward(ctx, req, fresh, id, op, false, true)
			return
		} else if err == nil && fresh == a.Node {
			reply, e := a.serve(ctx, op, id, req.Data())
			service.Respond(req, reply, e)
			return
		}
		fallthrough
	default:
		if err := req.Respond(resp.Data, micro.WithHeaders(micro.Headers(resp.Header))); err != nil {
			a.Log.Warn("relay reply", "subject", req.Subject(), "err", err)
		}
	}
}

// noSuchNode answers an open that names a node nobody answers for: a node that ran and is down
// now is unavailable, to retry later; a name no node has ever run under is not found, since
// retrying will not make it appear. When the registry cannot tell, the node is taken to be down.
func (a *API) noSuchNode(ctx context.Context, node, id string) *contract.Error {
	if known, err := a.Nodes.Known(ctx, node); err != nil || known {
		return contract.Errorf(contract.CodeNodeUnavailable,
			"node %s is not running: retry later with the same request id, or open account %s on another node", node, id)
	}
	live := "none is running now"
	if nodes, err := a.Nodes.List(ctx); err == nil && len(nodes) > 0 {
		names := make([]string, len(nodes))
		for i, n := range nodes {
			names[i] = n.Name
		}
		live = "the live ones are " + strings.Join(names, ", ")
	}
	return contract.Errorf(contract.CodeNodeNotFound,
		"there is no account node %s: no node of that name has ever run (%s); name one of them in \"node\", or leave it out", node, live)
}

// serveOwn serves a request forwarded to bank.node.<self>.account.<id>.<op>.
func (a *API) serveOwn(req micro.Request, op string) {
	ctx, cancel := service.Context(req, a.Timeout)
	defer cancel()
	id := contract.Token(req.Subject(), "account")
	if e := contract.CheckID("account id", id); e != nil {
		service.Respond(req, nil, e)
		return
	}
	reply, e := a.serve(ctx, op, id, req.Data())
	service.Respond(req, reply, e)
}

func (a *API) whereis(req micro.Request) {
	ctx, cancel := service.Context(req, a.Timeout)
	defer cancel()
	if id, node, ok := a.owner(ctx, req); ok {
		service.Respond(req, contract.Whereis{Account: id, Node: node}, nil)
	}
}

// owner reads the account id from the request's subject and looks up the node that owns it. When
// it cannot (a bad id, an account no one registered, the registry away), it answers the request
// itself and ok is false.
func (a *API) owner(ctx context.Context, req micro.Request) (id, node string, ok bool) {
	id = contract.Token(req.Subject(), "account")
	if e := contract.CheckID("account id", id); e != nil {
		service.Respond(req, nil, e)
		return id, "", false
	}
	node, err := a.Registry.Whereis(ctx, id)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		service.Respond(req, nil, notFound(id))
	case err != nil:
		service.Respond(req, nil, a.internal("whereis", err))
	default:
		return id, node, true
	}
	return id, "", false
}

// openGenerated opens an account whose id is derived from the request id, so that a retry with
// the same request id reaches the same account and is answered from its idempotency record.
func (a *API) openGenerated(req micro.Request) {
	r, e := decodeOpen("", req.Data())
	if e != nil {
		service.Respond(req, nil, e)
		return
	}
	if e := contract.CheckID("id", r.ID); e != nil {
		service.Respond(req, nil, e)
		return
	}
	sum := sha256.Sum256([]byte(r.ID))
	a.routeTo(req, "acc-"+hex.EncodeToString(sum[:8]), contract.OpOpen)
}

func (a *API) nodes(ctx context.Context, _ micro.Request, _ struct{}) (any, *contract.Error) {
	nodes, err := a.Nodes.List(ctx)
	if err != nil {
		return nil, a.internal("list nodes", err)
	}
	return contract.NodeList{Nodes: nodes}, nil
}

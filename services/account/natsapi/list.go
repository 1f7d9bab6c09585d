package natsapi

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/micro"

	"tsbank/contract"
	"tsbank/contract/client"
)

// Page sizes of account lists.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// listRequest is a list request as the wire sends it, with the limit as a pointer:
// contract.ListRequest's int cannot tell a limit left out (the default) from "limit":0, which is
// out of range.
type listRequest struct {
	contract.ListRequest
	Limit *int `json:"limit"`
}

// checkList gives a decoded list request its limit and checks it.
func checkList(w listRequest) (contract.ListRequest, *contract.Error) {
	r := w.ListRequest
	switch {
	case w.Limit == nil:
		r.Limit = DefaultListLimit
	case *w.Limit < 1 || *w.Limit > MaxListLimit:
		return r, contract.Errorf(contract.CodeBadRequest, "limit %d: send 1 to %d (default %d)", *w.Limit, MaxListLimit, DefaultListLimit)
	default:
		r.Limit = *w.Limit
	}
	if r.Node != "" {
		if e := contract.CheckID("node", r.Node); e != nil {
			return r, e
		}
	}
	return r, nil
}

// listOwn lists this node's accounts.
func (a *API) listOwn(ctx context.Context, _ micro.Request, w listRequest) (any, *contract.Error) {
	r, e := checkList(w)
	if e != nil {
		return nil, e
	}
	return a.localPage(ctx, r)
}

func (a *API) localPage(ctx context.Context, r contract.ListRequest) (contract.AccountList, *contract.Error) {
	accs, err := a.Service.List(ctx, r.After, r.Limit)
	if err != nil {
		return contract.AccountList{}, a.internal("list accounts", err)
	}
	page := contract.AccountList{Accounts: make([]contract.Account, 0, len(accs))}
	for _, acc := range accs {
		page.Accounts = append(page.Accounts, wireAccount(acc))
	}
	if len(accs) == r.Limit {
		page.Next = accs[len(accs)-1].ID
	}
	return page, nil
}

// list answers one node's page, or merges a page from every node that ever ran: each node returns
// its first Limit accounts after After, and the merge keeps the Limit smallest ids. A node that
// does not answer (down, or gone for good) is named in the reply, which is then partial: the
// accounts of the others are listed all the same.
func (a *API) list(ctx context.Context, _ micro.Request, w listRequest) (any, *contract.Error) {
	r, e := checkList(w)
	if e != nil {
		return nil, e
	}
	nodes := []string{r.Node}
	if r.Node == "" {
		var err error
		if nodes, err = a.allNodes(ctx); err != nil {
			return nil, a.internal("list nodes", err)
		}
	}
	var merged contract.AccountList
	more := false // some node may have accounts beyond this page
	c := client.New(a.NC)
	for _, node := range nodes {
		var page contract.AccountList
		if node == a.Node {
			page, e = a.localPage(ctx, r)
		} else {
			body, _ := json.Marshal(contract.ListRequest{After: r.After, Limit: r.Limit})
			if err := c.Call(ctx, contract.NodeListSubject(node), json.RawMessage(body), &page); err != nil {
				e = asWire(err, node)
			}
		}
		switch {
		case e != nil && r.Node != "":
			return nil, e // the one node asked for did not answer
		case e != nil:
			merged.Partial, merged.Unavailable = true, append(merged.Unavailable, node)
			e = nil
			continue
		}
		merged.Accounts = append(merged.Accounts, page.Accounts...)
		more = more || page.Next != ""
	}
	slices.SortFunc(merged.Accounts, func(x, y contract.Account) int { return strings.Compare(x.ID, y.ID) })
	if len(merged.Accounts) > r.Limit {
		merged.Accounts, more = merged.Accounts[:r.Limit], true
	}
	if more {
		merged.Next = merged.Accounts[len(merged.Accounts)-1].ID
	}
	return merged, nil
}

// allNodes is every node that ever ran (registry.Nodes.KnownNames), with the live ones added in
// case one has just started and its record is not yet read.
func (a *API) allNodes(ctx context.Context) ([]string, error) {
	known, err := a.Nodes.KnownNames(ctx)
	if err != nil {
		return nil, err
	}
	live, err := a.Nodes.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range live {
		if !slices.Contains(known, n.Name) {
			known = append(known, n.Name)
		}
	}
	return known, nil
}

func asWire(err error, node string) *contract.Error {
	if ce, ok := err.(*contract.Error); ok {
		return ce
	}
	return contract.Errorf(contract.CodeNodeUnavailable, "node %s did not list its accounts: %s", node, err)
}

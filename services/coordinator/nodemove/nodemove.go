// Package nodemove is the mover's edge (services/coordinator/move): the steps of a move, signed
// and sent to the nodes over NATS, and the placements of moved accounts in JetStream KV.
package nodemove

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/contract/decisionsig"
	"tsbank/services/coordinator/move"
)

// Nodes implements move.Nodes.
type Nodes struct {
	c   *client.Client
	key nkeys.KeyPair
	js  jetstream.JetStream
}

// NewNodes sends steps on nc, signed with key.
func NewNodes(nc *nats.Conn, key nkeys.KeyPair) (*Nodes, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	return &Nodes{c: client.New(nc), key: key, js: js}, nil
}

// Step implements move.Nodes.Step.
func (n *Nodes) Step(ctx context.Context, node string, r contract.NodeMoveRequest) (contract.NodeMoveReply, error) {
	var reply contract.NodeMoveReply
	sig, err := decisionsig.Sign(n.key, decisionsig.MoveStep(r))
	if err != nil {
		return reply, err
	}
	r.Sig = sig
	err = n.c.Call(ctx, contract.NodeMoveSubject(node), r, &reply)
	return reply, err
}

// Known implements move.Nodes.Known: the node's record in the registry.
func (n *Nodes) Known(ctx context.Context, node string) (bool, error) {
	kv, err := n.js.KeyValue(ctx, contract.AccountsBucket)
	if err != nil {
		return false, err
	}
	_, err = kv.Get(ctx, contract.KnownNodeKey(node))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Live implements move.Nodes.Live: the live nodes as the nodes list them.
func (n *Nodes) Live(ctx context.Context, node string) (bool, error) {
	list, err := n.c.Nodes(ctx)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(list.Nodes, func(x contract.Node) bool { return x.Name == node }), nil
}

// Placements implements move.Placements.
type Placements struct{ js jetstream.JetStream }

// NewPlacements reads and writes placements through nc.
func NewPlacements(nc *nats.Conn) (*Placements, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	return &Placements{js: js}, nil
}

func (p *Placements) buckets(ctx context.Context) (registry, moves jetstream.KeyValue, err error) {
	if registry, err = p.js.KeyValue(ctx, contract.AccountsBucket); err != nil {
		return nil, nil, fmt.Errorf("bucket %s: %w", contract.AccountsBucket, err)
	}
	if moves, err = p.js.KeyValue(ctx, contract.MovesBucket); err != nil {
		return nil, nil, fmt.Errorf("bucket %s: %w", contract.MovesBucket, err)
	}
	return registry, moves, nil
}

// Owner implements move.Placements.Owner.
func (p *Placements) Owner(ctx context.Context, account string) (string, error) {
	registry, moves, err := p.buckets(ctx)
	if err != nil {
		return "", err
	}
	home, err := registry.Get(ctx, account)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", fmt.Errorf("%w: %s", move.ErrNoAccount, account)
	}
	if err != nil {
		return "", err
	}
	pl, _, err := placement(ctx, moves, account)
	if err != nil || pl == nil {
		return string(home.Value()), err
	}
	return pl.Node, nil
}

// placement reads account's placement and its revision (0: none yet).
func placement(ctx context.Context, moves jetstream.KeyValue, account string) (*contract.Placement, uint64, error) {
	e, err := moves.Get(ctx, account)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	var pl contract.Placement
	if err := json.Unmarshal(e.Value(), &pl); err != nil {
		return nil, 0, fmt.Errorf("placement of %s: %w", account, err)
	}
	return &pl, e.Revision(), nil
}

// Switch implements move.Placements.Switch with compare-and-set on the placement's revision: of
// two coordinators switching one move, one writes and the other finds it written.
func (p *Placements) Switch(ctx context.Context, account string, rec contract.MoveRecord) error {
	_, moves, err := p.buckets(ctx)
	if err != nil {
		return err
	}
	for range 3 {
		pl, rev, err := placement(ctx, moves, account)
		if err != nil {
			return err
		}
		if pl == nil {
			pl = &contract.Placement{}
		}
		if n := len(pl.Moves); n > 0 && pl.Moves[n-1].ID == rec.ID {
			return nil // switched already
		}
		owner := pl.Node
		if owner == "" {
			if owner, err = p.Owner(ctx, account); err != nil {
				return err
			}
		}
		if owner != rec.From {
			return fmt.Errorf("%w: %s lives on %s, not on %s", move.ErrBusy, account, owner, rec.From)
		}
		pl.Node, pl.Moves = rec.To, append(pl.Moves, rec)
		value, err := json.Marshal(pl)
		if err != nil {
			return err
		}
		if rev == 0 {
			_, err = moves.Create(ctx, account, value)
		} else {
			_, err = moves.Update(ctx, account, value, rev)
		}
		if err == nil {
			return nil
		}
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) && !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("switch %s to %s: %w", account, rec.To, err)
		}
		// Another coordinator wrote first: look again.
	}
	return fmt.Errorf("switch %s to %s: the placement kept changing", account, rec.To)
}

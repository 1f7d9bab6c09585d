// Package registry is TSBank's global registry, the counterpart of Erlang's :global: a JetStream
// KV bucket whose key is an account id and whose value is the name of the node that owns it, and
// a second bucket of live nodes kept fresh by heartbeats.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"tsbank/contract"
	"tsbank/platform/natsconn"
)

// ErrNotFound is returned by Whereis for an id no node has registered.
var ErrNotFound = errors.New("account not registered")

// Registry maps account ids to owning nodes.
type Registry struct {
	kv jetstream.KeyValue
	// moves says where a moved account lives now (contract.MovesBucket); the coordinator writes it.
	moves jetstream.KeyValue
	// owners caches lookups. An owner changes only when its account moves; the node it left then
	// forgets it (Forget), as does anyone it tells so, and the node it went to remembers itself.
	// A negative answer is never cached.
	owners sync.Map
}

// Open binds the accounts and moves buckets, which the provisioning step made (the registry is
// create-only on the server: see platform/provision).
func Open(ctx context.Context, js jetstream.JetStream) (*Registry, error) {
	kv, err := js.KeyValue(ctx, contract.AccountsBucket)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", contract.AccountsBucket, err)
	}
	moves, err := js.KeyValue(ctx, contract.MovesBucket)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", contract.MovesBucket, err)
	}
	return &Registry{kv: kv, moves: moves}, nil
}

// Register makes node the owner of id unless some node already is, and returns the owner. The
// create-only write is atomic in JetStream, so of two nodes racing for one id exactly one wins;
// the bucket refuses any second write to a key, so the loser reads the winner's entry.
func (r *Registry) Register(ctx context.Context, id, node string) (string, error) {
	_, err := r.kv.Create(ctx, id, []byte(node))
	if err == nil {
		r.owners.Store(id, node)
		return node, nil
	}
	owner, werr := r.Whereis(ctx, id)
	if werr != nil {
		return "", fmt.Errorf("register %s: %w", id, err)
	}
	return owner, nil
}

// Whereis returns the node that owns id, or ErrNotFound: where its moves put it, or else the
// node that opened it.
func (r *Registry) Whereis(ctx context.Context, id string) (string, error) {
	if node, ok := r.owners.Load(id); ok {
		return node.(string), nil
	}
	e, err := r.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("whereis %s: %w", id, err)
	}
	node := string(e.Value())
	p, err := ReadPlacement(ctx, r.moves, id)
	if err != nil {
		return "", err
	}
	if p != nil {
		node = p.Node
	}
	r.owners.Store(id, node)
	return node, nil
}

// ReadPlacement reads the placement of account id from the moves bucket: nil if it never moved.
func ReadPlacement(ctx context.Context, moves jetstream.KeyValue, id string) (*contract.Placement, error) {
	e, err := moves.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("placement of %s: %w", id, err)
	}
	var p contract.Placement
	if err := json.Unmarshal(e.Value(), &p); err != nil {
		return nil, fmt.Errorf("placement of %s: %w", id, err)
	}
	return &p, nil
}

// Forget drops what this process remembers of id's owner: it has moved.
func (r *Registry) Forget(id string) { r.owners.Delete(id) }

// Remember records node as id's owner: this node, which an account has just moved to.
func (r *Registry) Remember(id, node string) { r.owners.Store(id, node) }

// Nodes are the account nodes: the live ones, in the bucket of heartbeats, where each node puts
// its key every heartbeat and the bucket's TTL removes the key of a node that stopped; and every
// node that ever ran, each with an entry node.<name> in the registry's bucket, written once at its
// first heartbeat and never expired, so that a node that is down is told from a name no node has.
type Nodes struct {
	kv          jetstream.KeyValue
	stream      jetstream.Stream
	known       jetstream.KeyValue // the registry's bucket, create-only
	knownStream jetstream.Stream   // its stream, whose subjects list the known nodes
}

// knownKey is the registry key that records that node ran (contract.KnownNodeKey); the bucket
// keeps it for ever, as it does account entries.
func knownKey(node string) string { return contract.KnownNodeKey(node) }

// OpenNodes binds the nodes bucket, which the provisioning step made.
func OpenNodes(ctx context.Context, js jetstream.JetStream) (*Nodes, error) {
	kv, err := js.KeyValue(ctx, contract.NodesBucket)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", contract.NodesBucket, err)
	}
	stream, err := js.Stream(ctx, "KV_"+contract.NodesBucket)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", contract.NodesBucket, err)
	}
	known, err := js.KeyValue(ctx, contract.AccountsBucket)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", contract.AccountsBucket, err)
	}
	knownStream, err := js.Stream(ctx, "KV_"+contract.AccountsBucket)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", contract.AccountsBucket, err)
	}
	return &Nodes{kv: kv, stream: stream, known: known, knownStream: knownStream}, nil
}

// KnownNames returns, in name order, every node that ever ran: the keys node.* of the registry,
// read from its stream's state (a read, like List).
func (ns *Nodes) KnownNames(ctx context.Context) ([]string, error) {
	prefix := "$KV." + contract.AccountsBucket + "." + contract.KnownNodeKey("")
	info, err := ns.knownStream.Info(ctx, jetstream.WithSubjectFilter(prefix+"*"))
	if err != nil {
		return nil, fmt.Errorf("list known nodes: %w", err)
	}
	var names []string
	for subject := range info.State.Subjects {
		names = append(names, strings.TrimPrefix(subject, prefix))
	}
	slices.Sort(names)
	return names, nil
}

// Known tells whether a node named name has ever run (its first heartbeat recorded it).
func (ns *Nodes) Known(ctx context.Context, name string) (bool, error) {
	_, err := ns.known.Get(ctx, knownKey(name))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("known node %s: %w", name, err)
	}
	return true, nil
}

// remember records that n runs, once: the bucket refuses a second write to the key, which then
// reads as there.
func (ns *Nodes) remember(ctx context.Context, n contract.Node) error {
	_, err := ns.known.Create(ctx, knownKey(n.Name), []byte(n.Name))
	if err == nil {
		return nil
	}
	if known, kerr := ns.Known(ctx, n.Name); kerr != nil || !known {
		return fmt.Errorf("record node %s: %w", n.Name, err)
	}
	return nil
}

// Heartbeat records that n ran (once for ever, see Known), puts n's entry now and every
// contract.NodeTTL/3 until ctx ends, then deletes it so that a cleanly stopped node disappears at
// once. An error of the first beat is returned, unless JetStream cannot answer for a while (a
// stream electing its leader after a NATS server's loss): a node that has just taken its lease
// then serves all the same, and the next beats record it.
func (ns *Nodes) Heartbeat(ctx context.Context, n contract.Node) error {
	value, err := json.Marshal(n)
	if err != nil {
		return err
	}
	remembered := false
	beat := func(ctx context.Context) error {
		if !remembered {
			if err := ns.remember(ctx, n); err != nil {
				return err
			}
			remembered = true
		}
		if _, err := ns.kv.Put(ctx, n.Name, value); err != nil {
			return fmt.Errorf("heartbeat %s: %w", n.Name, err)
		}
		return nil
	}
	first, cancel := context.WithTimeout(ctx, contract.NodeTTL/3)
	err = beat(first)
	cancel()
	if err != nil && !natsconn.Unavailable(err) {
		return err
	}
	go func() {
		t := time.NewTicker(contract.NodeTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				del, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_ = ns.kv.Delete(del, n.Name) // best effort: the TTL removes it anyway
				cancel()
				return
			case <-t.C:
				put, cancel := context.WithTimeout(ctx, contract.NodeTTL/3)
				_ = beat(put) // a missed beat is retried at the next tick
				cancel()
			}
		}
	}()
	return nil
}

// List returns the live nodes in name order.
func (ns *Nodes) List(ctx context.Context) ([]contract.Node, error) {
	// The bucket's subjects come from the stream's state, a read: listing keys with the KV
	// client would create a consumer, which no service may.
	prefix := "$KV." + contract.NodesBucket + "."
	info, err := ns.stream.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var out []contract.Node
	for subject := range info.State.Subjects {
		key := strings.TrimPrefix(subject, prefix)
		e, err := ns.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // expired or deleted since it was listed
		}
		if err != nil {
			return nil, fmt.Errorf("read node %s: %w", key, err)
		}
		var n contract.Node
		if err := json.Unmarshal(e.Value(), &n); err != nil {
			return nil, fmt.Errorf("node %s: %w", key, err)
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b contract.Node) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out, nil
}

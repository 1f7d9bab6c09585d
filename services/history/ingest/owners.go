package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"tsbank/contract"
)

// Owners reads the global registry (contract.AccountsBucket: account id -> owning node), which
// the account nodes create and write; the history only reads it.
type Owners struct {
	JS jetstream.JetStream

	mu sync.Mutex
	kv jetstream.KeyValue // nil until the bucket has been found
	// owners caches the owner of every account looked up. An account never changes owner today
	// (a standby takes over under the same node name), so an answer holds for ever; issue 13 will
	// move accounts between nodes, and must then drop an account's entry when it moves (and the
	// history must judge an event by the owner at the event's time, not now). "Not registered" is
	// never cached: the account may be opened a moment later.
	owners sync.Map
}

// Owner returns the node that owns account, or "" if no node does.
func (o *Owners) Owner(ctx context.Context, account string) (string, error) {
	if node, ok := o.owners.Load(account); ok {
		return node.(string), nil
	}
	kv, err := o.bucket(ctx)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return "", nil // no node has started yet, so none owns anything
	}
	if err != nil {
		return "", err
	}
	e, err := kv.Get(ctx, account)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("owner of %s: %w", account, err)
	}
	node := string(e.Value())
	o.owners.Store(account, node)
	return node, nil
}

// bucket binds the registry, never creating it: its configuration is the nodes'.
func (o *Owners) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.kv != nil {
		return o.kv, nil
	}
	kv, err := o.JS.KeyValue(ctx, contract.AccountsBucket)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", contract.AccountsBucket, err)
	}
	o.kv = kv
	return kv, nil
}

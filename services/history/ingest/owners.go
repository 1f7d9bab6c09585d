package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"tsbank/contract"
)

// Owners reads the global registry (contract.AccountsBucket: account id -> the node that opened
// it) and the placements of moved accounts (contract.MovesBucket), which the nodes and the
// coordinator write; the history only reads them.
type Owners struct {
	JS jetstream.JetStream

	mu    sync.Mutex
	kv    jetstream.KeyValue // nil until the bucket has been found
	moves jetstream.KeyValue // nil until the bucket has been found
	// owners caches, per account, the node that opened it and its placement (nil: never moved),
	// so that an event is judged by its owner at the event's number. A cached entry is read
	// again when an event does not fit it: the account may have moved since. "Not registered" is
	// never cached: the account may be opened a moment later.
	owners sync.Map
}

type owned struct {
	home      string
	placement *contract.Placement
}

// OwnerAt returns the node that owned account when it numbered its event seq, or "" if no node
// owns it. An answer that names another node than claimed is read again from the buckets once,
// in case the account has moved since it was cached.
func (o *Owners) OwnerAt(ctx context.Context, account string, seq int64, claimed string) (string, error) {
	if c, ok := o.owners.Load(account); ok {
		own := c.(owned)
		if owner := own.at(seq); owner == claimed {
			return owner, nil
		}
		o.owners.Delete(account)
	}
	own, found, err := o.read(ctx, account)
	if err != nil || !found {
		return "", err
	}
	o.owners.Store(account, own)
	return own.at(seq), nil
}

func (w owned) at(seq int64) string {
	if w.placement == nil {
		return w.home
	}
	return w.placement.OwnerAt(w.home, seq)
}

func (o *Owners) read(ctx context.Context, account string) (owned, bool, error) {
	kv, moves, err := o.buckets(ctx)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return owned{}, false, nil // no node has started yet, so none owns anything
	}
	if err != nil {
		return owned{}, false, err
	}
	e, err := kv.Get(ctx, account)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return owned{}, false, nil
	}
	if err != nil {
		return owned{}, false, fmt.Errorf("owner of %s: %w", account, err)
	}
	own := owned{home: string(e.Value())}
	m, err := moves.Get(ctx, account)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return owned{}, false, fmt.Errorf("placement of %s: %w", account, err)
	default:
		var p contract.Placement
		if err := json.Unmarshal(m.Value(), &p); err != nil {
			return owned{}, false, fmt.Errorf("placement of %s: %w", account, err)
		}
		own.placement = &p
	}
	return own, true, nil
}

// buckets binds the registry and the moves bucket, never creating them: their configuration is
// the provisioning's.
func (o *Owners) buckets(ctx context.Context) (jetstream.KeyValue, jetstream.KeyValue, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.kv != nil {
		return o.kv, o.moves, nil
	}
	kv, err := o.JS.KeyValue(ctx, contract.AccountsBucket)
	if err != nil {
		return nil, nil, fmt.Errorf("bucket %s: %w", contract.AccountsBucket, err)
	}
	moves, err := o.JS.KeyValue(ctx, contract.MovesBucket)
	if err != nil {
		return nil, nil, fmt.Errorf("bucket %s: %w", contract.MovesBucket, err)
	}
	o.kv, o.moves = kv, moves
	return kv, moves, nil
}

// Package lease gives one process at a time the right to act for a name (an account node), through
// a JetStream KV key that expires unless its holder renews it. The key's revision when it was
// taken is the holder's epoch: revisions only grow, so a later holder always has a greater epoch,
// and the database can fence out an earlier one that has not noticed it lost the lease.
package lease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Lease is a held lease.
type Lease struct {
	kv     jetstream.KeyValue
	key    string
	value  []byte
	epoch  uint64
	rev    uint64
	period time.Duration
}

// Acquire waits until key is free and takes it for holder, polling every tenth of the bucket's
// time to live (set when the bucket was provisioned). It returns when the lease is held, or with
// ctx's error.
func Acquire(ctx context.Context, kv jetstream.KeyValue, key, holder string) (*Lease, error) {
	value, _ := json.Marshal(struct {
		Holder string    `json:"holder"`
		Since  time.Time `json:"since"`
	}{holder, time.Now().UTC()})
	status, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("lease bucket: %w", err)
	}
	if status.TTL() <= 0 {
		return nil, fmt.Errorf("lease bucket %s has no TTL: a lease would never expire; provision it again", status.Bucket())
	}
	poll := status.TTL() / 10
	for {
		rev, err := kv.Create(ctx, key, value)
		if err == nil {
			// Renew at a third of the time to live, so two renewals may fail before it expires.
			return &Lease{kv: kv, key: key, value: value, epoch: rev, rev: rev, period: status.TTL() / 3}, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("acquire lease %s: %w", key, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// Epoch is the fencing token of this holding: greater than any earlier holder's.
func (l *Lease) Epoch() int64 { return int64(l.epoch) }

// Keep renews the lease until ctx ends (then it releases it), or until it is lost: the key changed
// hands or expired, or two renewals in a row failed, after which it may expire before the next
// one. Then it calls lost, and the holder must stop acting at once.
func (l *Lease) Keep(ctx context.Context, lost func(error)) {
	t := time.NewTicker(l.period)
	defer t.Stop()
	renewed := time.Now() // monotonic
	for {
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			// Only our own holding is deleted, so a standby takes over at once after a clean stop.
			_ = l.kv.Delete(rctx, l.key, jetstream.LastRevision(l.rev))
			cancel()
			return
		case <-t.C:
			rctx, cancel := context.WithTimeout(ctx, l.period)
			rev, err := l.kv.Update(rctx, l.key, l.value, l.rev)
			cancel()
			switch {
			case ctx.Err() != nil:
			case err == nil:
				l.rev, renewed = rev, time.Now()
			case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyExists), time.Since(renewed) >= 2*l.period:
				// Gone, someone else's, or too old to trust: stop acting for the name.
				lost(fmt.Errorf("lease %s lost: %w", l.key, err))
				return
			}
		}
	}
}

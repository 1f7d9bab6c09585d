// Package lease gives one process at a time the right to act for a name (an account node), through
// a JetStream KV key that expires unless its holder renews it. The key's revision when it was
// taken is the holder's epoch: revisions only grow, so a later holder always has a greater epoch,
// and the database can fence out an earlier one that has not noticed it lost the lease.
package lease

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"tsbank/platform/natsconn"
)

// Lease is a held lease.
type Lease struct {
	kv    jetstream.KeyValue
	key   string
	value []byte
	epoch uint64
	rev   uint64
	ttl   time.Duration
	// until is when the key expires at the earliest, on this process's monotonic clock: the
	// server stores a renewal after it was sent, and expires it ttl after it stored it, so a
	// renewal sent at t keeps the key until t + ttl at least.
	until time.Time
	log   *slog.Logger
}

// Acquire waits until key is free and takes it for holder, polling every tenth of the bucket's
// time to live (set when the bucket was provisioned). While JetStream cannot answer (a leader
// election, a NATS server restarting) it keeps trying. It returns when the lease is held, or with
// ctx's error, or at once with an error that trying again would not cure.
func Acquire(ctx context.Context, kv jetstream.KeyValue, key, holder string, log *slog.Logger) (*Lease, error) {
	value, _ := json.Marshal(struct {
		Holder string    `json:"holder"`
		Since  time.Time `json:"since"`
	}{holder, time.Now().UTC()})
	// Each request has a deadline of its own: one sent as the connection dies is lost, and must
	// not hold the standby up for as long as ctx lasts.
	var status jetstream.KeyValueStatus
	err := natsconn.SetUp(ctx, log, func(ctx context.Context) (err error) {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		status, err = kv.Status(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("lease bucket: %w", err)
	}
	ttl := status.TTL()
	if ttl <= 0 {
		return nil, fmt.Errorf("lease bucket %s has no TTL: a lease would never expire; provision it again", status.Bucket())
	}
	poll := ttl / 10
	unavailableSaid := false
	for {
		sent := time.Now()
		cctx, cancel := context.WithTimeout(ctx, max(ttl/3, time.Second))
		rev, err := kv.Create(cctx, key, value)
		cancel()
		switch {
		case err == nil:
			return &Lease{kv: kv, key: key, value: value, epoch: rev, rev: rev, ttl: ttl, until: sent.Add(ttl), log: log}, nil
		case errors.Is(err, jetstream.ErrKeyExists):
			// Held by another: wait for it to expire. It may be this holder's own earlier
			// attempt, whose reply was lost; that one expires too, and the next attempt takes
			// the key with a new epoch (taking it up here would need that attempt's send time,
			// which bounds its life).
		case natsconn.Unavailable(err) && ctx.Err() == nil:
			if !unavailableSaid {
				log.Warn("JetStream cannot answer; trying again to take the lease", "key", key, "err", err)
				unavailableSaid = true
			}
		default:
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

// Keep renews the lease until ctx ends (then it releases it), or until it is lost; then it calls
// lost, and the holder must stop acting at once.
//
// It renews every third of the time to live. A renewal that fails for a reason that may pass (a
// JetStream leader election, a NATS server restarting, the connection moving to another server)
// is tried again every twelfth of it, for as long as the key is certainly still this holder's:
// until a sixth of the time to live before the earliest moment it can expire (Lease.until), so
// that the holder has stopped before another can take the key. The lease is lost at once when the
// key has changed hands or expired. Fencing does not depend on these clocks: a later holder's
// epoch shuts an earlier one out in the database whatever the earlier one believes.
func (l *Lease) Keep(ctx context.Context, lost func(error)) {
	renewEvery, retryEvery, margin := l.ttl/3, l.ttl/12, l.ttl/6
	next := time.NewTimer(renewEvery)
	defer next.Stop()
	var failing error // the last renewal's error, while renewals fail
	for {
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			// Only our own holding is deleted, so a standby takes over at once after a clean stop.
			_ = l.kv.Delete(rctx, l.key, jetstream.LastRevision(l.rev))
			cancel()
			return
		case <-next.C:
		}
		left := time.Until(l.until) - margin
		if left <= 0 {
			why := "the process was paused, or its timers ran late"
			if failing != nil {
				why = failing.Error()
			}
			lost(fmt.Errorf("lease %s lost: not renewed for %v (%s)", l.key, l.ttl-margin, why))
			return
		}
		sent := time.Now()
		rctx, cancel := context.WithTimeout(ctx, min(renewEvery, left))
		rev, err := l.kv.Update(rctx, l.key, l.value, l.rev)
		cancel()
		switch {
		case ctx.Err() != nil:
			next.Reset(0)
		case err == nil:
			if failing != nil {
				l.log.Info("lease renewed again", "key", l.key, "after", time.Since(l.until.Add(-l.ttl)).Round(time.Millisecond))
			}
			l.rev, l.until, failing = rev, sent.Add(l.ttl), nil
			next.Reset(renewEvery)
		case errors.Is(err, jetstream.ErrKeyExists) && l.stillOurs(ctx):
			// A renewal that timed out here was applied after all (sent while the connection was
			// being re-established, delivered once it was): the key moved on, but it is still
			// this holding's. Renew again from its revision; until stays that of the last renewal
			// known to have landed.
			next.Reset(0)
		case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyExists):
			// Gone (deleted, or expired while JetStream could not be reached) or someone else's.
			lost(fmt.Errorf("lease %s lost: %w", l.key, err))
			return
		default:
			if failing == nil {
				l.log.Warn("could not renew the lease; trying again while it lasts", "key", l.key, "err", err,
					"lasts", time.Until(l.until).Round(time.Millisecond))
			}
			failing = err
			// The last try comes at the last moment the lease is certainly held, not after it.
			next.Reset(max(0, min(retryEvery, time.Until(l.until)-margin)))
		}
	}
}

// stillOurs tells whether the key still holds this holding's value (the holder's name and the
// time it took the lease, unique to it), and if so takes up its revision.
func (l *Lease) stillOurs(ctx context.Context) bool {
	rctx, cancel := context.WithTimeout(ctx, l.ttl/12)
	defer cancel()
	e, err := l.kv.Get(rctx, l.key)
	if err != nil || !bytes.Equal(e.Value(), l.value) {
		return false
	}
	l.rev = e.Revision()
	return true
}

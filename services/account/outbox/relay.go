package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tsbank/contract"
	"tsbank/platform/natsconn"
	"tsbank/platform/provision"
)

// Relay publishes the outbox's unsent rows to JetStream and marks them sent.
type Relay struct {
	pool  *pgxpool.Pool
	node  string
	js    jetstream.JetStream
	log   *slog.Logger
	batch int
	poll  time.Duration
	wake  chan struct{}
	// Published counts events acknowledged by JetStream; it may be nil.
	Published func(n int)
}

// NewRelay returns a relay that publishes node's outbox, up to batch rows per round trip, and looks
// for rows at least every poll, and at once when Notify is called.
func NewRelay(pool *pgxpool.Pool, js jetstream.JetStream, log *slog.Logger, node string, batch int, poll time.Duration) *Relay {
	return &Relay{pool: pool, node: node, js: js, log: log, batch: batch, poll: poll, wake: make(chan struct{}, 1)}
}

// Notify wakes the relay after a transaction that wrote to the outbox has committed.
func (r *Relay) Notify() {
	select {
	case r.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Run relays until ctx ends. Publish failures are logged and retried at the next poll; the rows
// stay unsent until JetStream has acknowledged them.
//
// When publishing fails because the events stream is gone (an operator removed it), the relay
// says once what to run and goes on trying quietly; the rows wait in the outbox, and it says so
// again when the stream is back.
func (r *Relay) Run(ctx context.Context) {
	t := time.NewTicker(r.poll)
	defer t.Stop()
	missing := false
	for {
		n, err := r.Drain(ctx)
		switch {
		case err == nil && missing:
			missing = false
			r.log.Info("the events stream is back; relaying the outbox again")
		case err == nil, ctx.Err() != nil:
		case missing && natsconn.Unavailable(err):
			// The stream is being made again, and cannot take messages yet: it was said already.
		case r.streamMissing(ctx):
			if !missing {
				missing = true
				r.log.Error("the events stream is gone; events wait in the outbox", "stream", contract.EventsStream, "err", err, "fix", provision.Hint)
			}
		default:
			r.log.Warn("outbox relay", "err", err)
		}
		if err == nil && n == r.batch {
			continue // more may be waiting
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-t.C:
		}
	}
}

// streamMissing tells whether the events stream does not exist.
func (r *Relay) streamMissing(ctx context.Context) bool {
	_, err := r.js.Stream(ctx, contract.EventsStream)
	return provision.Missing(err)
}

// Drain publishes one batch of unsent rows and returns how many it marked sent.
//
// Rows are picked by sent_at IS NULL, not by a high-water mark of seq: a transaction that took a
// lower seq but committed after a higher one is picked up at the next round instead of being
// skipped. SKIP LOCKED lets several relays (a node and its standby) share the table without
// publishing a row twice at once; a crash after publishing and before marking re-publishes, and
// the stream's duplicate window (Nats-Msg-Id = event id) drops the copy.
//
// The subject is derived from this node and the row (its account and its event's type), not read
// from the row's subject column: rows written before the outbox subjects existed hold the old
// bank.events.<account>.<type>, which the stream no longer captures. Migrating them instead would
// need the node's name, which the database does not know, and would miss rows an old process
// writes during a rolling upgrade.
func (r *Relay) Drain(ctx context.Context) (int, error) {
	// A bounded round: an acknowledgement that never comes (a server lost mid-publish) must not
	// hold the rows' locks for ever.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var sent int
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT seq, event_id::text, account_id, payload->>'type', payload FROM outbox
			WHERE sent_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`, r.batch)
		if err != nil {
			return fmt.Errorf("read outbox: %w", err)
		}
		var seqs []int64
		var acks []jetstream.PubAckFuture
		for rows.Next() {
			var seq int64
			var id, accountID, typ string
			var payload []byte
			if err := rows.Scan(&seq, &id, &accountID, &typ, &payload); err != nil {
				return fmt.Errorf("read outbox: %w", err)
			}
			subject := contract.OutboxSubject(r.node, accountID, typ)
			// Publishing in seq order on one connection keeps each account's events in order.
			ack, err := r.js.PublishMsgAsync(&nats.Msg{Subject: subject, Data: payload}, jetstream.WithMsgID(id))
			if err != nil {
				return fmt.Errorf("publish event %s: %w", id, err)
			}
			seqs = append(seqs, seq)
			acks = append(acks, ack)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read outbox: %w", err)
		}
		for i, ack := range acks {
			select {
			case <-ack.Ok():
			case err := <-ack.Err():
				return fmt.Errorf("publish outbox row %d: %w", seqs[i], err)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if len(seqs) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE outbox SET sent_at = now() WHERE seq = ANY($1)`, seqs); err != nil {
			return fmt.Errorf("mark sent: %w", err)
		}
		sent = len(seqs)
		return nil
	})
	if err != nil {
		return 0, err
	}
	if sent > 0 && r.Published != nil {
		r.Published(sent)
	}
	return sent, nil
}

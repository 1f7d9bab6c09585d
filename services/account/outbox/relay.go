package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"tsbank/contract"
	"tsbank/contract/natstrace"
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

// publishSpan starts the span of publishing event id (of transfer transferID, if any) as m, a
// child of the trace context tc the outbox row kept, and puts the span's context in m's headers
// for the history's insert. An event with no trace context gets no span: a deposit is no
// transfer, and a trace of its publication alone would tell nothing.
func (r *Relay) publishSpan(ctx context.Context, m *nats.Msg, tc []byte, id, transferID string) trace.Span {
	var parent map[string]string
	if len(tc) > 0 && json.Unmarshal(tc, &parent) != nil {
		parent = nil // unreadable: published without a trace rather than not at all
	}
	if len(parent) == 0 {
		return trace.SpanFromContext(ctx) // non-recording; End does nothing
	}
	ctx, span := natstrace.Start(natstrace.ExtractMap(ctx, parent), "outbox publish", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(append(natstrace.Transfer(transferID), attribute.String("tsbank.event_id", id),
			attribute.String("messaging.destination.name", m.Subject))...))
	natstrace.Inject(ctx, m.Header)
	return span
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
	var spans []trace.Span // of the rows published, ended when JetStream answers or the round fails
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT seq, event_id::text, account_id, payload->>'type', payload, trace,
				coalesce(payload->>'transfer_id', '') FROM outbox
			WHERE sent_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`, r.batch)
		if err != nil {
			return fmt.Errorf("read outbox: %w", err)
		}
		var seqs []int64
		var acks []jetstream.PubAckFuture
		for rows.Next() {
			var seq int64
			var id, accountID, typ, transferID string
			var payload, tc []byte
			if err := rows.Scan(&seq, &id, &accountID, &typ, &payload, &tc, &transferID); err != nil {
				return fmt.Errorf("read outbox: %w", err)
			}
			m := &nats.Msg{Subject: contract.OutboxSubject(r.node, accountID, typ), Data: payload, Header: nats.Header{}}
			span := r.publishSpan(ctx, m, tc, id, transferID)
			spans = append(spans, span)
			// Publishing in seq order on one connection keeps each account's events in order.
			ack, err := r.js.PublishMsgAsync(m, jetstream.WithMsgID(id))
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
				spans[i].End()
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
	for _, span := range spans {
		natstrace.End(span, err) // a span already ended is left as it was
	}
	if err != nil {
		return 0, err
	}
	if sent > 0 && r.Published != nil {
		r.Published(sent)
	}
	return sent, nil
}

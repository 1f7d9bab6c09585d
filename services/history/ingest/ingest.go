// Package ingest copies the events stream into the history database: a durable JetStream
// consumer, read in batches, each batch written in one statement and acknowledged only after it
// has committed. A redelivered or replayed event is a no-op (the event id is unique), so a crash
// anywhere in a batch loses nothing and duplicates nothing. An event that its publisher could not
// have written (another node's, or about an account its node does not own) is forged: it is set
// aside in forged_events and never becomes a transaction. Beside the events, Accounts copies the
// nodes' list of accounts, so that SQL sees accounts that have no event yet.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"tsbank/contract"
	"tsbank/contract/money"
	"tsbank/contract/natstrace"
	"tsbank/platform/provision"
	"tsbank/services/history/history"
)

// Metrics receives what the ingester measures.
type Metrics interface {
	Ingested(inserted, duplicates int)
	Rejected()
	Forged(n int)
	Lag(pending uint64)
}

// Ingester reads the events stream into a store.
type Ingester struct {
	JS      jetstream.JetStream
	Owners  *Owners // who owns each account, to tell genuine events from forged ones
	Store   history.Store
	Log     *slog.Logger
	Metrics Metrics
	Batch   int // events per fetch and per insert
}

// Consumer binds the durable consumer the provisioning step made (platform/provision); every
// history instance shares it, and so shares the work.
func Consumer(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
	c, err := js.Consumer(ctx, contract.EventsStream, contract.HistoryConsumer)
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", contract.HistoryConsumer, contract.EventsStream, err)
	}
	return c, nil
}

// Run ingests until ctx ends. It reads the next batch while the last one is being written, so
// that fetching and decoding overlap with the insert's commit; batches are still written one at a
// time, in the order they were read. When fetching fails it checks whether the consumer (or the
// stream) is still there: if an operator removed it, the history says once what to run and waits
// for it to be provisioned again, then goes on from the consumer's new position, instead of
// repeating the same error every second.
func (in *Ingester) Run(ctx context.Context, c jetstream.Consumer) {
	read := make(chan *batch, 1)
	go func() {
		defer close(read)
		for ctx.Err() == nil {
			b, err := in.read(ctx, c)
			switch {
			case err == nil:
				select {
				case read <- b:
				case <-ctx.Done():
					b.release()
				}
				continue
			case ctx.Err() != nil:
				return
			}
			if _, ierr := c.Info(ctx); provision.Missing(ierr) {
				in.Log.Error("the history's consumer is gone; waiting for it", "stream", contract.EventsStream,
					"consumer", contract.HistoryConsumer, "err", ierr, "fix", provision.Hint)
				if c = in.rebind(ctx); c == nil {
					return
				}
				in.Log.Info("the history's consumer is back; ingesting again")
				continue
			}
			in.Log.Warn("ingest", "err", err)
			pause(ctx)
		}
	}()
	for b := range read {
		if err := in.write(ctx, b); err != nil {
			in.Log.Warn("ingest", "err", err)
			pause(ctx)
		}
	}
}

// pause waits a second, or until ctx ends: the database or the stream is away, do not spin.
func pause(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
}

// rebind waits until the consumer exists again and binds it, or returns nil when ctx ends.
func (in *Ingester) rebind(ctx context.Context) jetstream.Consumer {
	for wait := time.Second; ; wait = min(2*wait, 10*time.Second) {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		if c, err := Consumer(ctx, in.JS); err == nil {
			return c
		}
	}
}

// fetchWait bounds how long a fetch waits to fill its batch: under a backlog batches fill at
// once; when events trickle in, it is the most an event waits before it is written.
const fetchWait = 250 * time.Millisecond

// batch is what one fetch brought: the genuine events to insert and the forged ones to record,
// each with its message, and the last message read (for the consumer's lag).
type batch struct {
	msgs, forgedMsgs []jetstream.Msg
	rows             []history.Row
	forged           []history.Forged
	last             jetstream.Msg
}

// release hands a batch that will not be written back for redelivery.
func (b *batch) release() {
	nakAll(b.msgs)
	nakAll(b.forgedMsgs)
}

// read fetches one batch and sorts its events: an unreadable one is terminated, one whose origin
// cannot be judged yet is redelivered later, a forged one (see history.Forgery) is set aside.
func (in *Ingester) read(ctx context.Context, c jetstream.Consumer) (*batch, error) {
	fetched, err := c.Fetch(in.Batch, jetstream.FetchMaxWait(fetchWait))
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	b := &batch{}
	for msg := range fetched.Messages() {
		b.last = msg
		row, err := decode(msg)
		if err != nil {
			// A message that can never be read would otherwise come back for ever.
			in.Log.Error("rejecting an unreadable event", "subject", msg.Subject(), "err", err)
			in.Metrics.Rejected()
			_ = msg.Term()
			continue
		}
		f, err := in.check(wctx, msg, row)
		switch {
		case errors.Is(err, errJudgeLater):
			_ = msg.NakWithDelay(time.Second)
		case err != nil:
			// The registry did not answer: judge the event later rather than wrongly.
			in.Log.Warn("could not check an event's origin", "subject", msg.Subject(), "err", err)
			_ = msg.NakWithDelay(time.Second)
		case f != nil:
			b.forgedMsgs, b.forged = append(b.forgedMsgs, msg), append(b.forged, *f)
		default:
			b.msgs, b.rows = append(b.msgs, msg), append(b.rows, row)
		}
	}
	if err := fetched.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
		b.release()
		return nil, fmt.Errorf("fetch: %w", err)
	}
	return b, nil
}

// write inserts a batch's events, records its forged ones and acknowledges their messages. A batch
// that has been fetched is finished even if ctx ends meanwhile (within a bound), so a clean stop
// leaves nothing waiting for redelivery.
func (in *Ingester) write(ctx context.Context, b *batch) error {
	if b.last == nil {
		in.Metrics.Lag(0) // nothing arrived within the wait: caught up
		return nil
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if len(b.rows) > 0 {
		if err := in.insert(wctx, b.msgs, b.rows); err != nil {
			nakAll(b.forgedMsgs)
			return err
		}
	}
	if len(b.forged) > 0 {
		if err := in.recordForged(wctx, b.forgedMsgs, b.forged); err != nil {
			return err
		}
	}
	if md, err := b.last.Metadata(); err == nil {
		in.Metrics.Lag(md.NumPending)
	}
	return nil
}

// insert writes rows and acknowledges their messages once the rows committed.
func (in *Ingester) insert(ctx context.Context, msgs []jetstream.Msg, rows []history.Row) (err error) {
	spans := insertSpans(ctx, msgs, rows)
	defer func() {
		for _, span := range spans {
			natstrace.End(span, err)
		}
	}()
	inserted, err := in.Store.Insert(ctx, rows)
	if err != nil {
		nakAll(msgs)
		return err
	}
	for _, m := range msgs {
		if err := m.Ack(); err != nil {
			return fmt.Errorf("ack: %w", err) // redelivered later, and then a no-op
		}
	}
	in.Metrics.Ingested(inserted, len(rows)-inserted)
	return nil
}

// recordForged records forged events and terminates their messages: a forged event is final, and
// redelivering it would only record it again. Each is logged and counted once, when first recorded.
func (in *Ingester) recordForged(ctx context.Context, msgs []jetstream.Msg, forged []history.Forged) error {
	recorded, err := in.Store.RecordForged(ctx, forged)
	if err != nil {
		nakAll(msgs)
		return err
	}
	for _, m := range msgs {
		_ = m.Term() // if the terminate is lost, the redelivery is recorded already and skipped
	}
	for _, f := range recorded {
		in.Log.Warn("refusing a forged event", "reason", f.Reason, "subject", f.Subject, "event", f.EventID,
			"account", f.Account, "claimed_node", f.ClaimedNode, "publishing_node", f.PublishingNode, "registry_owner", f.Owner)
	}
	in.Metrics.Forged(len(recorded))
	return nil
}

// insertSpans starts a span for each event whose message carries a trace context (its
// publication's span, see the account's outbox relay), as a child of it: one insert writes the
// whole batch, so each event's span is the batch's statement and commit, in its own transfer's
// trace. Events without a trace context get none.
func insertSpans(ctx context.Context, msgs []jetstream.Msg, rows []history.Row) []trace.Span {
	var spans []trace.Span
	for i, m := range msgs {
		pctx := natstrace.Extract(ctx, m.Headers())
		if !trace.SpanContextFromContext(pctx).IsValid() {
			continue
		}
		_, span := natstrace.Start(pctx, "history insert", trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(append(natstrace.Transfer(rows[i].TransferID), attribute.String("tsbank.event_id", rows[i].EventID),
				attribute.Int("tsbank.batch", len(rows)))...))
		spans = append(spans, span)
	}
	return spans
}

func nakAll(msgs []jetstream.Msg) {
	for _, m := range msgs {
		_ = m.NakWithDelay(time.Second) // redelivered soon, to this or another instance
	}
}

// unregisteredTries is how many deliveries an event of an account the registry does not know gets
// before it counts as forged. A node registers an account before it writes its first event, but a
// registry replica that lags may answer a read, so a genuine event of a new account could arrive
// before the replica has its entry; a second look a second later finds it.
const unregisteredTries = 3

// errJudgeLater asks for the event to be redelivered and judged again.
var errJudgeLater = errors.New("account not registered yet")

// check returns the forged record of row, which msg carried, or nil if the event is genuine.
func (in *Ingester) check(ctx context.Context, msg jetstream.Msg, row history.Row) (*history.Forged, error) {
	o := history.Origin{Subject: msg.Subject()}
	var ok bool
	if o.PublishingNode, o.Account, o.Type, ok = contract.ParseOutboxSubject(o.Subject); !ok {
		// The stream captures only bank.outbox.>, so any other subject is bank.events.<account>.<type>,
		// stored before the nodes published on their outbox subjects.
		o.Legacy = true
	}
	owner, err := in.Owners.OwnerAt(ctx, row.Account, row.AccountSeq, row.Node)
	if err != nil {
		return nil, err
	}
	o.Owner = owner
	reason := history.Forgery(row, o)
	if reason == "" {
		return nil, nil
	}
	md, err := msg.Metadata()
	if err != nil {
		return nil, err
	}
	if reason == history.ForgedUnregistered && md.NumDelivered < unregisteredTries {
		return nil, errJudgeLater
	}
	return &history.Forged{
		StreamSeq: md.Sequence.Stream, EventID: row.EventID, Account: row.Account, Subject: o.Subject,
		ClaimedNode: row.Node, PublishingNode: o.PublishingNode, Owner: owner, Reason: reason, Payload: msg.Data(),
	}, nil
}

// decode turns a stream message into a row.
func decode(msg jetstream.Msg) (history.Row, error) {
	var e contract.Event
	if err := json.Unmarshal(msg.Data(), &e); err != nil {
		return history.Row{}, fmt.Errorf("decode: %w", err)
	}
	if e.Version != contract.EventVersion {
		return history.Row{}, fmt.Errorf("event %s has version %d; this service reads version %d", e.ID, e.Version, contract.EventVersion)
	}
	switch e.Type {
	case contract.EventDeposit, contract.EventWithdrawal, contract.EventTransferOut, contract.EventTransferIn:
	default:
		return history.Row{}, fmt.Errorf("event %s has unknown type %q", e.ID, e.Type)
	}
	if e.Seq <= 0 {
		return history.Row{}, fmt.Errorf("event %s has no account sequence number (seq)", e.ID)
	}
	c, err := money.LookupCurrency(e.Currency)
	if err != nil {
		return history.Row{}, err
	}
	md, err := msg.Metadata()
	if err != nil {
		return history.Row{}, err
	}
	return history.Row{
		EventID: e.ID, Account: e.Account, Type: e.Type, Amount: e.AmountMinor, Currency: c,
		BalanceAfter: e.BalanceMinor, At: e.Time, Description: e.Description, TransferID: e.TransferID,
		Counterparty: e.Counterparty, RefundOf: e.RefundOf, Exchange: rowExchange(e.Exchange), Node: e.Node, RequestID: e.RequestID, StreamSeq: md.Sequence.Stream,
		AccountSeq: e.Seq,
	}, nil
}

func rowExchange(x *contract.Exchange) *history.Exchange {
	if x == nil {
		return nil
	}
	return &history.Exchange{Quote: x.Quote, Rate: x.Rate, FromAmount: x.FromAmount, FromCurrency: x.FromCurrency,
		ToAmount: x.ToAmount, ToCurrency: x.ToCurrency}
}

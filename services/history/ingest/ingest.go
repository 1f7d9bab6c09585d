// Package ingest copies the events stream into the history database: a durable JetStream
// consumer, read in batches, each batch written in one statement and acknowledged only after it
// has committed. A redelivered or replayed event is a no-op (the event id is unique), so a crash
// anywhere in a batch loses nothing and duplicates nothing.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"tsbank/contract"
	"tsbank/contract/money"
	"tsbank/platform/provision"
	"tsbank/services/history/history"
)

// Metrics receives what the ingester measures.
type Metrics interface {
	Ingested(inserted, duplicates int)
	Rejected()
	Lag(pending uint64)
}

// Ingester reads the events stream into a store.
type Ingester struct {
	JS      jetstream.JetStream
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

// Run ingests until ctx ends. When fetching fails it checks whether the consumer (or the stream)
// is still there: if an operator removed it, the history says once what to run and waits for it
// to be provisioned again, then goes on from the consumer's new position, instead of repeating
// the same error every second.
func (in *Ingester) Run(ctx context.Context, c jetstream.Consumer) {
	for ctx.Err() == nil {
		err := in.Once(ctx, c)
		if err == nil || ctx.Err() != nil {
			continue
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
		select { // the database or the stream is away: do not spin
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
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

// Once fetches one batch, writes it, and acknowledges it. A batch that has been fetched is
// finished even if ctx ends meanwhile (within a bound), so a clean stop leaves nothing waiting
// for redelivery.
func (in *Ingester) Once(ctx context.Context, c jetstream.Consumer) error {
	batch, err := c.Fetch(in.Batch, jetstream.FetchMaxWait(fetchWait))
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	var msgs []jetstream.Msg
	var rows []history.Row
	for msg := range batch.Messages() {
		row, err := decode(msg)
		if err != nil {
			// A message that can never be read would otherwise come back for ever.
			in.Log.Error("rejecting an unreadable event", "subject", msg.Subject(), "err", err)
			in.Metrics.Rejected()
			_ = msg.Term()
			continue
		}
		msgs, rows = append(msgs, msg), append(rows, row)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("fetch: %w", err)
	}
	if len(rows) == 0 {
		in.Metrics.Lag(0) // nothing arrived within the wait: caught up
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	inserted, err := in.Store.Insert(ctx, rows)
	if err != nil {
		for _, m := range msgs {
			_ = m.NakWithDelay(time.Second) // redelivered soon, to this or another instance
		}
		return err
	}
	for _, m := range msgs {
		if err := m.Ack(); err != nil {
			return fmt.Errorf("ack: %w", err) // redelivered later, and then a no-op
		}
	}
	in.Metrics.Ingested(inserted, len(rows)-inserted)
	if md, err := msgs[len(msgs)-1].Metadata(); err == nil {
		in.Metrics.Lag(md.NumPending)
	}
	return nil
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
		Counterparty: e.Counterparty, Node: e.Node, RequestID: e.RequestID, StreamSeq: md.Sequence.Stream,
		AccountSeq: e.Seq,
	}, nil
}

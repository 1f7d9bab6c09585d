// Package pgstore keeps the coordinator's two-phase-commit log in its Postgres database.
package pgstore

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"

	"tsbank/contract/natstrace"
	"tsbank/platform/batch"
	"tsbank/services/coordinator/transfer"
)

// Store implements transfer.Store.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	// lease is how long after a decision its first re-send is due: time enough for the deciding
	// coordinator to deliver it, so recovery does not send it a second time meanwhile.
	lease  time.Duration
	begins *batch.Group[transfer.Transfer, begun]
	decide *batch.Group[decision, decided]
	acks   *batch.Group[ack, error]
}

// writeTimeout bounds one batch's transaction: the callers it writes for have gone on (acks) or
// wait for it, and none of their own contexts may cancel their neighbours' write.
const writeTimeout = 10 * time.Second

// New returns a store over pool that logs what it cannot report to a caller to log; see
// Store.lease. Close it before closing pool, to write the acknowledgements still queued.
func New(pool *pgxpool.Pool, lease time.Duration, log *slog.Logger) *Store {
	s := &Store{pool: pool, log: log, lease: lease}
	// Two begin batches in flight: while one waits for its flush, the next fills.
	s.begins = &batch.Group[transfer.Transfer, begun]{Max: 200, Writers: 1, Write: s.writeBegins}
	s.decide = &batch.Group[decision, decided]{Max: 200, Writers: 1, Write: s.writeDecisions}
	s.acks = &batch.Group[ack, error]{Max: 500, Writers: 1, Write: s.writeAcks}
	return s
}

// Close writes the acknowledgements still queued, for as long as ctx lets it. Acknowledgements
// recorded after Close are written before Acked returns.
func (s *Store) Close(ctx context.Context) error {
	if err := s.acks.Close(ctx); err != nil {
		return fmt.Errorf("write queued acknowledgements: %w", err)
	}
	return nil
}

const columns = `transfer_id, from_account, request_id, fingerprint, to_account, amount, description,
	coalesce(currency, ''), coalesce(amount_minor, 0), state, coalesce(outcome, ''), reason, message,
	debit_vote, credit_vote, debit_acked, credit_acked, resends, created_at, decided_at, coalesce(refund_of, '')`

func scan(row pgx.Row) (transfer.Transfer, error) {
	var t transfer.Transfer
	err := row.Scan(&t.ID, &t.From, &t.RequestID, &t.Fingerprint, &t.To, &t.Amount, &t.Description,
		&t.Currency, &t.AmountMinor, &t.State, &t.Outcome, &t.Reason, &t.Message,
		&t.DebitVote, &t.CreditVote, &t.DebitAcked, &t.CreditAcked, &t.Resends, &t.CreatedAt, &t.DecidedAt, &t.RefundOf)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, transfer.ErrNotFound
	}
	if err != nil {
		return t, fmt.Errorf("read transfer: %w", err)
	}
	return t, nil
}

func scanAll(rows pgx.Rows, err error) ([]transfer.Transfer, error) {
	if err != nil {
		return nil, fmt.Errorf("read transfers: %w", err)
	}
	defer rows.Close()
	var out []transfer.Transfer
	for rows.Next() {
		t, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// begun is the result of one Begin.
type begun struct {
	rec     transfer.Transfer
	created bool
	err     error
}

// Begin inserts t as preparing, or returns the transfer already recorded for its request id. It
// returns once the row is committed: the client's retry and recovery must find it. Concurrent
// Begins share one statement and one commit (see batch.Group).
func (s *Store) Begin(ctx context.Context, t transfer.Transfer) (_ transfer.Transfer, _ bool, err error) {
	_, span := logSpan(ctx, "log begin", t.ID)
	defer func() { natstrace.End(span, err) }()
	c, _ := s.begins.Submit(t)
	select {
	case <-c.Done():
		r := c.Result()
		return r.rec, r.created, r.err
	case <-ctx.Done():
		// The row may yet be written: like any transfer whose coordinator went away before
		// deciding, recovery aborts it.
		return t, false, ctx.Err()
	}
}

// logSpan starts the span of a write to the log about transfer id: its wait for the batch's
// statement and the commit.
func logSpan(ctx context.Context, name, id string) (context.Context, trace.Span) {
	return natstrace.Start(ctx, name, trace.WithAttributes(natstrace.Transfer(id)...))
}

// writeBegins writes a batch of Begins. A statement fails as a whole, so if one row makes it fail
// (the database refuses a value), each transfer is written again alone and only that one fails:
// a transfer's result never depends on its neighbours.
func (s *Store) writeBegins(ts []transfer.Transfer) []begun {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	out, err := s.beginAll(ctx, ts)
	if err == nil {
		return out
	}
	if len(ts) == 1 {
		return []begun{{rec: ts[0], err: fmt.Errorf("begin transfer %s: %w", ts[0].RequestID, err)}}
	}
	out = make([]begun, len(ts))
	for i, t := range ts {
		out[i] = s.writeBegins([]transfer.Transfer{t})[0]
	}
	return out
}

// beginAll inserts ts with one statement (one transaction) and returns each one's row: its own if it was inserted,
// else the one already recorded for its request id (by an earlier transfer, or by an earlier
// duplicate in ts), checked against its fingerprint.
func (s *Store) beginAll(ctx context.Context, ts []transfer.Transfer) ([]begun, error) {
	// Rows are inserted in key order, so two batches in flight that share keys (two retries of
	// the same requests) wait for each other in the same order and cannot deadlock.
	order := make([]int, len(ts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		return cmp.Or(cmp.Compare(ts[i].From, ts[j].From), cmp.Compare(ts[i].RequestID, ts[j].RequestID))
	})
	n := len(ts)
	ids, froms, reqs, tos, amounts, descs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	fps := make([][]byte, n)
	for k, i := range order {
		t := ts[i]
		ids[k], froms[k], reqs[k], fps[k], tos[k], amounts[k], descs[k] = t.ID, t.From, t.RequestID, t.Fingerprint, t.To, t.Amount, t.Description
	}
	// The INSERT is a transaction of its own, committed when it returns. The read that follows,
	// needed only for rows not inserted, needs none: each row it looks for is committed already
	// (ON CONFLICT waited for a concurrent inserter to finish) and rows are never deleted.
	recs, err := scanAll(s.pool.Query(ctx, `INSERT INTO transfers
		(transfer_id, from_account, request_id, fingerprint, to_account, amount, description)
		SELECT id, f, r, fp, t, a, d
		FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::text[], $7::text[])
			WITH ORDINALITY AS u(id, f, r, fp, t, a, d, n)
		ORDER BY n
		ON CONFLICT (from_account, request_id) DO NOTHING RETURNING `+columns,
		ids, froms, reqs, fps, tos, amounts, descs))
	if err != nil {
		return nil, err
	}
	created := map[string]transfer.Transfer{}
	for _, r := range recs {
		created[r.ID] = r
	}
	existing := map[[2]string]transfer.Transfer{}
	if len(created) < n {
		// The others' rows: an earlier transfer's, or an earlier duplicate's in this batch.
		recs, err := scanAll(s.pool.Query(ctx, `SELECT `+columns+` FROM transfers
			WHERE from_account = ANY($1) AND (from_account, request_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, froms, reqs))
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			existing[[2]string{r.From, r.RequestID}] = r
		}
	}
	out := make([]begun, n)
	for i, t := range ts {
		if rec, ok := created[t.ID]; ok {
			out[i] = begun{rec: rec, created: true}
			continue
		}
		rec, ok := existing[[2]string{t.From, t.RequestID}]
		switch {
		case !ok: // cannot happen: the insert conflicted with a row that no longer exists
			out[i] = begun{rec: t, err: fmt.Errorf("begin transfer %s: %w", t.RequestID, transfer.ErrNotFound)}
		case rec.ID == t.ID:
			// Its own row, written by a batch that failed after its INSERT committed (the
			// answer was lost, or the read after it failed) and found by the retry alone: the
			// id is fresh per call, so nobody else could have written it,
			// and the caller must drive it rather than wait for it as for a retry's.
			out[i] = begun{rec: rec, created: true}
		case !bytes.Equal(rec.Fingerprint, t.Fingerprint):
			out[i] = begun{rec: rec, err: fmt.Errorf("%w: request id %q of %s", transfer.ErrConflict, t.RequestID, t.From)}
		default:
			out[i] = begun{rec: rec}
		}
	}
	return out, nil
}

// LogRefund logs a refund in one transaction of its own, not in a Begin batch: the original's row
// is locked FOR UPDATE, so concurrent refunds of one transfer are serialized and each sees the
// ones before it in the sum it is capped by (read committed: each statement sees what committed
// before it started, including the refund that held the lock before it).
func (s *Store) LogRefund(ctx context.Context, r transfer.Transfer, of transfer.Original, build func(transfer.Transfer, int64) (transfer.Transfer, error)) (transfer.Transfer, bool, error) {
	var out transfer.Transfer
	var created bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		query, args := `SELECT `+columns+` FROM transfers WHERE transfer_id = $1 FOR UPDATE`, []any{of.TransferID}
		if of.TransferID == "" {
			query, args = `SELECT `+columns+` FROM transfers WHERE from_account = $1 AND request_id = $2 FOR UPDATE`, []any{of.From, of.RequestID}
		}
		original, err := scan(tx.QueryRow(ctx, query, args...))
		if err != nil {
			return err
		}
		// A retry is answered first: the refund it asked for may have used up what is left.
		existing, err := scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM transfers WHERE from_account = $1 AND request_id = $2`, r.From, r.RequestID))
		switch {
		case err == nil && !bytes.Equal(existing.Fingerprint, r.Fingerprint):
			out = existing
			return fmt.Errorf("%w: request id %q of %s", transfer.ErrConflict, r.RequestID, r.From)
		case err == nil:
			out = existing
			return nil
		case !errors.Is(err, transfer.ErrNotFound):
			return err
		}
		var refunded int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(sum(amount_minor), 0)::int8 FROM transfers
				WHERE refund_of = $1 AND outcome IS DISTINCT FROM 'aborted'`, original.ID).Scan(&refunded); err != nil {
			return fmt.Errorf("sum refunds of %s: %w", original.ID, err)
		}
		t, err := build(original, refunded)
		if err != nil {
			return err
		}
		// Unlike a transfer's, a preparing refund's amount_minor is known (the original's
		// currency), and written now: it is what the cap counts.
		out, err = scan(tx.QueryRow(ctx, `INSERT INTO transfers
			(transfer_id, from_account, request_id, fingerprint, to_account, amount, description, refund_of, currency, amount_minor)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING `+columns,
			t.ID, t.From, t.RequestID, t.Fingerprint, t.To, t.Amount, t.Description, t.RefundOf, t.Currency, t.AmountMinor))
		if err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return out, false, fmt.Errorf("log refund %s of %s: %w", r.RequestID, of, err)
	}
	return out, created, nil
}

// Refunded sums the committed refunds of transfer id.
func (s *Store) Refunded(ctx context.Context, id string) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(amount_minor), 0)::int8 FROM transfers
		WHERE refund_of = $1 AND outcome = 'committed'`, id).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sum refunds of %s: %w", id, err)
	}
	return n, nil
}

// decision is one call of Decide; decided its result.
type decision struct {
	id string
	d  transfer.Decision
}

type decided struct {
	rec transfer.Transfer
	err error
}

// Decide writes d if the transfer is still preparing, and returns once it is committed: the
// decision is durable before anyone hears it. The WHERE state = 'preparing' makes the decision a
// compare-and-set: of several coordinators deciding one transfer, one write wins and the others
// read it back. Concurrent Decides share one statement and one commit (see batch.Group).
func (s *Store) Decide(ctx context.Context, id string, d transfer.Decision) (_ transfer.Transfer, err error) {
	_, span := logSpan(ctx, "log decide", id)
	defer func() { natstrace.End(span, err) }()
	c, _ := s.decide.Submit(decision{id: id, d: d})
	select {
	case <-c.Done():
		r := c.Result()
		return r.rec, r.err
	case <-ctx.Done():
		return transfer.Transfer{ID: id}, ctx.Err() // decided or not: a Get will tell
	}
}

// writeDecisions writes a batch of decisions; as in writeBegins, a statement that fails is
// written again one decision at a time, so that one bad row fails only its own transfer.
func (s *Store) writeDecisions(ds []decision) []decided {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	out, err := s.decideAll(ctx, ds)
	if err == nil {
		return out
	}
	if len(ds) == 1 {
		return []decided{{rec: transfer.Transfer{ID: ds[0].id}, err: fmt.Errorf("decide transfer %s: %w", ds[0].id, err)}}
	}
	out = make([]decided, len(ds))
	for i, d := range ds {
		out[i] = s.writeDecisions([]decision{d})[0]
	}
	return out
}

// decideAll writes ds with one statement (one transaction), each only if its transfer is still preparing, and
// returns every transfer as decided, by this batch or earlier. Two decisions of one transfer in
// the batch (its driver and a participant's question) are one compare-and-set: UPDATE … FROM
// applies one source row to a target row, and both read back the one written.
func (s *Store) decideAll(ctx context.Context, ds []decision) ([]decided, error) {
	// In id order, so that two batches in flight lock shared rows in the same order.
	sorted := slices.Clone(ds)
	slices.SortStableFunc(sorted, func(a, b decision) int { return cmp.Compare(a.id, b.id) })
	n := len(ds)
	ids, outcomes, reasons, messages, currencies, dvotes, cvotes := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	amounts := make([]int64, n)
	for k, x := range sorted {
		ids[k], outcomes[k], reasons[k], messages[k], currencies[k], amounts[k], dvotes[k], cvotes[k] = x.id, string(x.d.Outcome), string(x.d.Reason), x.d.Message, x.d.Currency, x.d.AmountMinor, x.d.DebitVote, x.d.CreditVote
	}
	// As in beginAll, the UPDATE commits on its own, and the read after it finds only decisions
	// committed already (the UPDATE waited for a concurrent decider's lock, then saw its write).
	written, err := scanAll(s.pool.Query(ctx, `UPDATE transfers SET state = d.d_outcome, outcome = d.d_outcome,
			reason = d.d_reason, message = d.d_message,
			-- A refund is logged with its currency and amount (what its original's cap counts),
			-- and keeps them; a transfer learns them from the votes.
			currency = coalesce(transfers.currency, nullif(d.d_currency, '')),
			amount_minor = coalesce(transfers.amount_minor, nullif(d.d_amount_minor, 0)),
			debit_vote = d.d_debit_vote, credit_vote = d.d_credit_vote,
			decided_at = now(), next_attempt_at = now() + $9::interval
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::text[], $8::text[])
			AS d(d_id, d_outcome, d_reason, d_message, d_currency, d_amount_minor, d_debit_vote, d_credit_vote)
		WHERE transfer_id = ANY($1) AND transfer_id = d.d_id AND state = 'preparing' RETURNING `+columns,
		ids, outcomes, reasons, messages, currencies, amounts, dvotes, cvotes, s.lease))
	if err != nil {
		return nil, err
	}
	recs := map[string]transfer.Transfer{}
	for _, r := range written {
		recs[r.ID] = r
	}
	if len(recs) < n {
		// Decided already, by an earlier batch or another instance (or unknown: ErrNotFound).
		earlier, err := scanAll(s.pool.Query(ctx, `SELECT `+columns+` FROM transfers WHERE transfer_id = ANY($1)`, ids))
		if err != nil {
			return nil, err
		}
		for _, r := range earlier {
			if _, ok := recs[r.ID]; !ok {
				recs[r.ID] = r
			}
		}
	}
	out := make([]decided, n)
	for i, x := range ds {
		rec, ok := recs[x.id]
		if !ok {
			out[i] = decided{rec: transfer.Transfer{ID: x.id}, err: transfer.ErrNotFound}
			continue
		}
		out[i] = decided{rec: rec}
	}
	return out, nil
}

// ack is one call of Acked.
type ack struct {
	id            string
	debit, credit bool
	backoff       time.Duration
}

// Acked queues the acknowledgements and returns before they are written: many transfers'
// acknowledgements are then written by one statement in one transaction, off the path on which
// the client waits. A queue lost in a crash loses no money and no decision: the transfer stays
// decided and not done, so recovery re-sends the decision once its re-send is due, and every
// participant handler answers a decision it has applied already with the same acknowledgement and
// no change. The cost of a lost batch is one re-send per leg. A failed batch is logged by the
// store, which alone knows about it, so the error is always nil.
func (s *Store) Acked(_ context.Context, id string, debit, credit bool, backoff time.Duration) error {
	if c, closed := s.acks.Submit(ack{id: id, debit: debit, credit: credit, backoff: backoff}); closed {
		<-c.Done() // after Close, nobody else waits for the write before the pool closes
	}
	return nil
}

// writeAcks writes a batch of acknowledgements. Two for one transfer (its driver's and a
// recovery's) are merged first: an UPDATE … FROM applies only one source row to each target row.
func (s *Store) writeAcks(acks []ack) []error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	var ids []string
	var debits, credits []bool
	var backoffs []int64 // microseconds: an int8 array needs no interval codec
	at := map[string]int{}
	for _, a := range acks {
		if i, ok := at[a.id]; ok {
			debits[i], credits[i] = debits[i] || a.debit, credits[i] || a.credit
			backoffs[i] = a.backoff.Microseconds()
			continue
		}
		at[a.id] = len(ids)
		ids, debits, credits = append(ids, a.id), append(debits, a.debit), append(credits, a.credit)
		backoffs = append(backoffs, a.backoff.Microseconds())
	}
	_, err := s.pool.Exec(ctx, `UPDATE transfers t SET
			debit_acked = t.debit_acked OR a.debit, credit_acked = t.credit_acked OR a.credit,
			state = CASE WHEN (t.debit_acked OR a.debit) AND (t.credit_acked OR a.credit) THEN 'done' ELSE t.state END,
			done_at = CASE WHEN (t.debit_acked OR a.debit) AND (t.credit_acked OR a.credit) THEN now() END,
			next_attempt_at = now() + a.backoff_us * interval '1 microsecond'
		FROM unnest($1::text[], $2::bool[], $3::bool[], $4::int8[]) AS a(id, debit, credit, backoff_us)
		WHERE t.transfer_id = ANY($1) AND t.transfer_id = a.id AND t.state IN ('committed', 'aborted')`, ids, debits, credits, backoffs)
	if err != nil {
		err = fmt.Errorf("ack %d transfers: %w", len(ids), err)
		s.log.Error("record acknowledgements: recovery will re-send these decisions", "transfers", len(ids), "err", err)
	}
	errs := make([]error, len(acks))
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// Get returns transfer id.
func (s *Store) Get(ctx context.Context, id string) (transfer.Transfer, error) {
	return scan(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM transfers WHERE transfer_id = $1`, id))
}

// ByRequest returns the transfer paid from from with request id requestID.
func (s *Store) ByRequest(ctx context.Context, from, requestID string) (transfer.Transfer, error) {
	return scan(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM transfers WHERE from_account = $1 AND request_id = $2`, from, requestID))
}

// Stuck lists transfers still preparing that were created before before.
func (s *Store) Stuck(ctx context.Context, before time.Time, limit int) ([]transfer.Transfer, error) {
	return scanAll(s.pool.Query(ctx, `SELECT `+columns+` FROM transfers
		WHERE state = 'preparing' AND created_at < $1 ORDER BY created_at LIMIT $2`, before, limit))
}

// ClaimResends takes a lease on due, decided, unacknowledged transfers. SKIP LOCKED and the
// pushed-back next_attempt_at let several instances share the work without sending twice at once
// (a second send would be harmless: every participant handler is idempotent).
func (s *Store) ClaimResends(ctx context.Context, limit int, lease time.Duration) ([]transfer.Transfer, error) {
	return scanAll(s.pool.Query(ctx, `UPDATE transfers SET next_attempt_at = now() + $2::interval, resends = resends + 1
		WHERE transfer_id IN (
			SELECT transfer_id FROM transfers
			WHERE state IN ('committed', 'aborted') AND next_attempt_at <= now()
			ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING `+columns, limit, lease))
}

// Pending lists transfers not done, oldest first.
func (s *Store) Pending(ctx context.Context, limit int) ([]transfer.Transfer, error) {
	return scanAll(s.pool.Query(ctx, `SELECT `+columns+` FROM transfers WHERE state <> 'done' ORDER BY created_at LIMIT $1`, limit))
}

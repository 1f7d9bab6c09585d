// Package pgstore keeps the history in its Postgres database: idempotent batch inserts, the
// record of forged events, and the queries behind pages, statements and reconciliation.
package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tsbank/contract/money"
	"tsbank/services/history/history"
)

// Store implements history.Store.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a store over pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Insert writes a batch in one statement; ON CONFLICT makes a redelivered or replayed event a
// no-op.
func (s *Store) Insert(ctx context.Context, rows []history.Row) (int, error) {
	n := len(rows)
	ids, accounts, types, currencies := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	amounts, balances := make([]string, n), make([]string, n)
	amountsMinor, balancesMinor, seqs, accountSeqs := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	at := make([]time.Time, n)
	descriptions, nodes := make([]string, n), make([]string, n)
	transfers, counterparties, requests, refundOfs := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
	exchanges := make([]*string, n)
	for i, r := range rows {
		ids[i], accounts[i], types[i], currencies[i] = r.EventID, r.Account, r.Type, r.Currency.Code
		amounts[i], balances[i] = money.Format(r.Amount, r.Currency), money.Format(r.BalanceAfter, r.Currency)
		amountsMinor[i], balancesMinor[i], seqs[i], accountSeqs[i] = r.Amount, r.BalanceAfter, int64(r.StreamSeq), r.AccountSeq
		at[i], descriptions[i], nodes[i] = r.At, r.Description, r.Node
		transfers[i], counterparties[i], requests[i], refundOfs[i] = null(r.TransferID), null(r.Counterparty), null(r.RequestID), null(r.RefundOf)
		if r.Exchange != nil {
			b, _ := json.Marshal(r.Exchange) // a struct of strings always encodes
			exchanges[i] = null(string(b))
		}
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO transactions (event_id, account, type, amount, amount_minor, currency,
			balance_after, balance_after_minor, at, description, transfer_id, counterparty, node, request_id, stream_seq, account_seq, refund_of, exchange)
		SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::numeric[], $5::bigint[], $6::text[], $7::numeric[],
			$8::bigint[], $9::timestamptz[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::bigint[], $16::bigint[], $17::text[], $18::jsonb[])
		ON CONFLICT (event_id) DO NOTHING`,
		ids, accounts, types, amounts, amountsMinor, currencies, balances, balancesMinor, at, descriptions,
		transfers, counterparties, nodes, requests, seqs, accountSeqs, refundOfs, exchanges)
	if err != nil {
		return 0, fmt.Errorf("insert %d events: %w", n, err)
	}
	return int(tag.RowsAffected()), nil
}

func null(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// columns are read FROM transactions unaliased: the last one, what was refunded of a transfer row
// on its account, joins the rows of its refunds through their refund_of (an index scan), so that
// the original shows its refunds without a stored counter to keep in step.
const columns = `event_id::text, account, type, amount_minor, currency, balance_after_minor, at, description,
	coalesce(transfer_id, ''), coalesce(counterparty, ''), node, coalesce(request_id, ''), stream_seq,
	coalesce(refund_of, ''),
	CASE WHEN transfer_id IS NULL OR refund_of IS NOT NULL THEN 0 ELSE coalesce((SELECT sum(abs(r.amount_minor))
		FROM transactions r WHERE r.refund_of = transactions.transfer_id AND r.account = transactions.account), 0) END::int8,
	exchange`

func scanRows(rows pgx.Rows, err error) ([]history.Row, error) {
	if err != nil {
		return nil, fmt.Errorf("query history: %w", err)
	}
	defer rows.Close()
	var out []history.Row
	for rows.Next() {
		var r history.Row
		var code string
		var seq int64
		var exchange []byte
		if err := rows.Scan(&r.EventID, &r.Account, &r.Type, &r.Amount, &code, &r.BalanceAfter, &r.At, &r.Description,
			&r.TransferID, &r.Counterparty, &r.Node, &r.RequestID, &seq, &r.RefundOf, &r.Refunded, &exchange); err != nil {
			return nil, fmt.Errorf("read history: %w", err)
		}
		if exchange != nil {
			r.Exchange = new(history.Exchange)
			if err := json.Unmarshal(exchange, r.Exchange); err != nil {
				return nil, fmt.Errorf("read history: exchange of %s: %w", r.EventID, err)
			}
		}
		c, err := money.LookupCurrency(code)
		if err != nil {
			return nil, err
		}
		r.Currency, r.StreamSeq, r.At = c, uint64(seq), r.At.UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// Page builds the query from q's filters and keyset position. The ORDER BY and the position
// comparison use the same columns, (at, event_id) or (abs(amount_minor), event_id), which the
// indexes cover, so a page costs the same wherever it is in the history.
func (s *Store) Page(ctx context.Context, q history.Query) ([]history.Row, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	where = append(where, "account = "+arg(q.Account))
	f := q.Filter
	if len(f.Types) > 0 {
		where = append(where, "type = ANY("+arg(f.Types)+")")
	}
	if !f.From.IsZero() {
		where = append(where, "at >= "+arg(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "at < "+arg(f.To))
	}
	if f.MinAmount != "" {
		where = append(where, "abs(amount) >= "+arg(f.MinAmount)+"::numeric")
	}
	if f.MaxAmount != "" {
		where = append(where, "abs(amount) <= "+arg(f.MaxAmount)+"::numeric")
	}
	if f.Counterparty != "" {
		where = append(where, "counterparty = "+arg(f.Counterparty))
	}
	if f.TransferID != "" {
		where = append(where, "transfer_id = "+arg(f.TransferID))
	}
	if f.Text != "" {
		where = append(where, "description ILIKE '%' || "+arg(escapeLike(f.Text))+" || '%'")
	}
	key := "at"
	if q.SortBy == history.SortAmount {
		key = "abs(amount_minor)"
	}
	cmp, dir := ">", "ASC"
	if q.Desc {
		cmp, dir = "<", "DESC"
	}
	if p := q.After; p != nil {
		var k any = p.Time
		if q.SortBy == history.SortAmount {
			k = p.Amount
		}
		where = append(where, fmt.Sprintf("(%s, event_id) %s (%s, %s::uuid)", key, cmp, arg(k), arg(p.EventID)))
	}
	sql := fmt.Sprintf(`SELECT %s FROM transactions WHERE %s ORDER BY %s %s, event_id %s LIMIT %s`,
		columns, strings.Join(where, " AND "), key, dir, dir, arg(q.Limit))
	return scanRows(s.pool.Query(ctx, sql, args...))
}

// escapeLike makes a user's text match literally inside ILIKE.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Period returns the rows of [from, to) in commit order and the balance before from. account_seq
// is the node's commit order, exact even for two events within a microsecond.
func (s *Store) Period(ctx context.Context, account string, from, to time.Time) (int64, []history.Row, error) {
	var opening int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce((SELECT balance_after_minor FROM transactions
		WHERE account = $1 AND at < $2 ORDER BY account_seq DESC LIMIT 1), 0)`, account, from).Scan(&opening)
	if err != nil {
		return 0, nil, fmt.Errorf("opening balance of %s: %w", account, err)
	}
	rows, err := scanRows(s.pool.Query(ctx, `SELECT `+columns+` FROM transactions
		WHERE account = $1 AND at >= $2 AND at < $3 ORDER BY account_seq`, account, from, to))
	return opening, rows, err
}

// Currency returns the currency of account's rows.
func (s *Store) Currency(ctx context.Context, account string) (money.Currency, bool, error) {
	var code string
	err := s.pool.QueryRow(ctx, `SELECT currency FROM transactions WHERE account = $1 LIMIT 1`, account).Scan(&code)
	if errors.Is(err, pgx.ErrNoRows) {
		return money.Currency{}, false, nil
	}
	if err != nil {
		return money.Currency{}, false, fmt.Errorf("currency of %s: %w", account, err)
	}
	c, err := money.LookupCurrency(code)
	return c, err == nil, err
}

// Upto summarizes account's rows numbered 1 to seq.
func (s *Store) Upto(ctx context.Context, account string, seq int64) (history.Prefix, error) {
	var p history.Prefix
	var balance *int64
	err := s.pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(amount_minor), 0),
			max(balance_after_minor) FILTER (WHERE account_seq = $2)
		FROM transactions WHERE account = $1 AND account_seq BETWEEN 1 AND $2`, account, seq).Scan(&p.Rows, &p.Sum, &balance)
	if err != nil {
		return p, fmt.Errorf("rows of %s up to %d: %w", account, seq, err)
	}
	if balance != nil {
		p.Balance, p.Found = *balance, true
	}
	return p, nil
}

// BalanceAt reads what account's balance at t depends on, with the SQL function that psql users
// call too (balance_at_detail, migration 000005).
func (s *Store) BalanceAt(ctx context.Context, account string, t time.Time) (history.Before, error) {
	var b history.Before
	err := s.pool.QueryRow(ctx, `SELECT seq, first_after, rows, balance_minor FROM balance_at_detail($1, $2)`, account, t).
		Scan(&b.Seq, &b.FirstAfter, &b.Rows, &b.Balance)
	if err != nil {
		return b, fmt.Errorf("balance of %s at %s: %w", account, t, err)
	}
	return b, nil
}

// ClaimCountBatch returns the oldest numbered batch not yet counted (one whose increments may have
// been published before a crash: it is published again, with the same ids), or numbers a new one.
// Its statements name the type 'transfer_out' (contract.EventTransferOut) as a literal, not a
// parameter: it must match the predicate of the partial index transactions_uncounted for the
// planner to use that index.
func (s *Store) ClaimCountBatch(ctx context.Context, limit int) (int64, []history.CountTotal, error) {
	var batch int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(min(count_batch), 0) FROM transactions
		WHERE type = 'transfer_out' AND counted_at IS NULL AND count_batch IS NOT NULL`).Scan(&batch)
	if err != nil {
		return 0, nil, fmt.Errorf("pending count batch: %w", err)
	}
	if batch == 0 {
		err = s.pool.QueryRow(ctx, `WITH b AS (SELECT nextval('count_batches') AS n),
			picked AS (SELECT event_id FROM transactions WHERE type = 'transfer_out' AND counted_at IS NULL AND count_batch IS NULL
				ORDER BY stream_seq LIMIT $1),
			numbered AS (UPDATE transactions t SET count_batch = b.n FROM b, picked WHERE t.event_id = picked.event_id RETURNING b.n)
			SELECT coalesce(min(n), 0) FROM numbered`, limit).Scan(&batch)
		if err != nil {
			return 0, nil, fmt.Errorf("number a count batch: %w", err)
		}
		if batch == 0 {
			return 0, nil, nil
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), node, currency, count(*), sum(abs(amount_minor))
		FROM transactions WHERE count_batch = $1 AND type = 'transfer_out' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, batch)
	if err != nil {
		return 0, nil, fmt.Errorf("totals of count batch %d: %w", batch, err)
	}
	defer rows.Close()
	var totals []history.CountTotal
	for rows.Next() {
		var t history.CountTotal
		if err := rows.Scan(&t.Day, &t.Node, &t.Currency, &t.Transfers, &t.Volume); err != nil {
			return 0, nil, err
		}
		totals = append(totals, t)
	}
	return batch, totals, rows.Err()
}

// MarkCounted records that batch's increments were acknowledged.
func (s *Store) MarkCounted(ctx context.Context, batch int64) error {
	if _, err := s.pool.Exec(ctx, `UPDATE transactions SET counted_at = now() WHERE count_batch = $1`, batch); err != nil {
		return fmt.Errorf("mark count batch %d: %w", batch, err)
	}
	return nil
}

// Summaries returns, per account, the balance after its newest row, the sum of its amounts, its
// row count and its newest row's number.
func (s *Store) Summaries(ctx context.Context, account string) ([]history.Summary, error) {
	rows, err := s.pool.Query(ctx, `SELECT account, min(currency),
			(array_agg(balance_after_minor ORDER BY account_seq DESC))[1], sum(amount_minor), count(*), max(account_seq)
		FROM transactions WHERE $1 = '' OR account = $1 GROUP BY account ORDER BY account`, account)
	if err != nil {
		return nil, fmt.Errorf("summaries: %w", err)
	}
	defer rows.Close()
	var out []history.Summary
	for rows.Next() {
		var sm history.Summary
		var code string
		if err := rows.Scan(&sm.Account, &code, &sm.LastBalance, &sm.Sum, &sm.Rows, &sm.LastSeq); err != nil {
			return nil, fmt.Errorf("summaries: %w", err)
		}
		if sm.Currency, err = money.LookupCurrency(code); err != nil {
			return nil, err
		}
		out = append(out, sm)
	}
	return out, rows.Err()
}

// RecordForged writes forged events in one statement and returns those that were not recorded
// already (a message redelivered after its record committed is skipped).
func (s *Store) RecordForged(ctx context.Context, events []history.Forged) ([]history.Forged, error) {
	n := len(events)
	seqs, ids, accounts, subjects, claimed := make([]int64, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	publishers, owners, reasons, payloads := make([]*string, n), make([]*string, n), make([]string, n), make([]string, n)
	for i, f := range events {
		seqs[i], ids[i], accounts[i], subjects[i], claimed[i] = int64(f.StreamSeq), f.EventID, f.Account, f.Subject, f.ClaimedNode
		publishers[i], owners[i], reasons[i], payloads[i] = null(f.PublishingNode), null(f.Owner), f.Reason, string(f.Payload)
	}
	rows, err := s.pool.Query(ctx, `INSERT INTO forged_events (stream_seq, event_id, account, subject, claimed_node,
			publishing_node, registry_owner, reason, payload)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::jsonb[])
		ON CONFLICT (stream_seq, event_id) DO NOTHING
		RETURNING stream_seq, event_id`,
		seqs, ids, accounts, subjects, claimed, publishers, owners, reasons, payloads)
	if err != nil {
		return nil, fmt.Errorf("record %d forged events: %w", n, err)
	}
	defer rows.Close()
	type key struct {
		seq int64
		id  string
	}
	recorded := map[key]bool{}
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.seq, &k.id); err != nil {
			return nil, fmt.Errorf("record forged events: %w", err)
		}
		recorded[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("record %d forged events: %w", n, err)
	}
	var out []history.Forged
	for _, f := range events {
		if recorded[key{int64(f.StreamSeq), f.EventID}] {
			out = append(out, f)
		}
	}
	return out, nil
}

// ForgedCounts counts the forged events of account, or of every account if account is "".
func (s *Store) ForgedCounts(ctx context.Context, account string) (map[string]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT account, count(*) FROM forged_events
		WHERE $1 = '' OR account = $1 GROUP BY account`, account)
	if err != nil {
		return nil, fmt.Errorf("count forged events: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("count forged events: %w", err)
		}
		out[id] = n
	}
	return out, rows.Err()
}

// SaveAccounts upserts accounts in one statement. A row that has not changed is not rewritten, so
// a sync of thousands of unchanged accounts writes nothing.
func (s *Store) SaveAccounts(ctx context.Context, accounts []history.Account) (int, error) {
	n := len(accounts)
	ids, nodes, currencies, statuses := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	exponents, opened, closed := make([]int16, n), make([]time.Time, n), make([]*time.Time, n)
	for i, a := range accounts {
		ids[i], nodes[i], currencies[i], statuses[i], opened[i] = a.ID, a.Node, a.Currency.Code, a.Status, a.OpenedAt
		exponents[i] = int16(a.Currency.Exponent)
		if !a.ClosedAt.IsZero() {
			closed[i] = &a.ClosedAt
		}
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO accounts AS a (account, node, currency, currency_exponent, status, opened_at, closed_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[], $5::text[], $6::timestamptz[], $7::timestamptz[])
		ON CONFLICT (account) DO UPDATE SET node = excluded.node, currency = excluded.currency,
			currency_exponent = excluded.currency_exponent, status = excluded.status,
			opened_at = excluded.opened_at, closed_at = excluded.closed_at, synced_at = now()
		WHERE (a.node, a.currency, a.status, a.opened_at, a.closed_at)
			IS DISTINCT FROM (excluded.node, excluded.currency, excluded.status, excluded.opened_at, excluded.closed_at)`,
		ids, nodes, currencies, exponents, statuses, opened, closed)
	if err != nil {
		return 0, fmt.Errorf("save %d accounts: %w", n, err)
	}
	return int(tag.RowsAffected()), nil
}

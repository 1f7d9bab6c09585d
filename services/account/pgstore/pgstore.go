// Package pgstore keeps an account node's accounts, idempotency records and outbox in its own
// Postgres database, with pgx.
package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"tsbank/contract/money"
	"tsbank/platform/batch"
	"tsbank/services/account/account"
)

// Store implements account.Store.
type Store struct {
	pool   *pgxpool.Pool
	node   string
	encode Encoder
	// epoch is the lease epoch this process writes under; see Fence.
	epoch atomic.Int64
	// changes groups concurrent Change calls into shared transactions (changes.go).
	changes *batch.Group[change, changed]
}

// Encoder is the wire form of an event: the subject and payload its outbox row keeps for the
// relay. It is the outbox package's (outbox.Encode); the store writes what it is given, so that
// the wire types stop at the edges.
type Encoder func(e account.Event, c money.Currency) (subject string, payload []byte, err error)

// New returns a store over pool for the accounts of node, writing events to the outbox as encode
// makes them.
func New(pool *pgxpool.Pool, node string, encode Encoder) *Store {
	s := &Store{pool: pool, node: node, encode: encode}
	s.changes = &batch.Group[change, changed]{Max: 256, Writers: 1, Write: s.writeLiveChanges}
	return s
}

const uniqueViolation = "23505"

const accountColumns = `a.id, a.currency, a.balance, a.on_hold, a.pending_in, a.overdraft_limit, a.status, a.opened_at, a.closed_at, a.event_seq, a.move_state, a.move_id, a.move_peer`

// Create inserts a, recording key in the same transaction.
func (s *Store) Create(ctx context.Context, a account.Account, key account.Key) (account.Result, error) {
	res, err := s.create(ctx, a, key)
	err = fenced(err)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == uniqueViolation {
		// Either the id was taken by another request, or an identical request committed while this
		// one waited on the unique index: look again, now that it has committed.
		res, err = s.create(ctx, a, key)
		if errors.As(err, &pgErr) && pgErr.Code == uniqueViolation {
			return account.Result{}, fmt.Errorf("%w: %s", account.ErrExists, a.ID)
		}
	}
	return res, err
}

func (s *Store) create(ctx context.Context, a account.Account, key account.Key) (res account.Result, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, checkFence, s.epoch.Load()); err != nil {
			return err
		}
		stored, found, err := replay(ctx, tx, a.ID, key)
		if err != nil || found {
			res = stored
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO accounts (id, currency, overdraft_limit, status, opened_at)
			VALUES ($1, $2, $3, $4, $5)`, a.ID, a.Currency.Code, a.OverdraftLimit, a.Status, a.OpenedAt); err != nil {
			return err
		}
		res = account.Result{Account: a}
		return record(ctx, tx, a.ID, key, res)
	})
	return res, err
}

// Fence makes epoch the only one allowed to write, unless a greater epoch already is
// (account.ErrFenced). Transactions of the previous epoch hold a share lock on the fence row; a
// holder that was paused mid-transaction would hold it for as long as it stays paused, so the
// update waits at most fenceWait and then ends those sessions server-side: their epoch's lease
// has expired (the caller holds it now), so their work could not commit anyway, and a take-over
// must not depend on a process that is not running.
func (s *Store) Fence(ctx context.Context, epoch int64, holder string) error {
	for {
		var affected int64
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = %d`, fenceWait.Milliseconds())); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `UPDATE fence SET epoch = $1, holder = $2, taken_at = now() WHERE epoch <= $1`, epoch, holder)
			affected = tag.RowsAffected()
			return err
		})
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == lockNotAvailable {
			if err := s.endFenceHolders(ctx); err != nil {
				return fmt.Errorf("fence: end the sessions of the previous holder: %w", err)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("fence: %w", err)
		}
		if affected == 0 {
			return fmt.Errorf("%w: a later epoch than %d holds the fence", account.ErrFenced, epoch)
		}
		s.epoch.Store(epoch)
		return nil
	}
}

// fenceWait bounds one wait of Fence on the previous holder's transactions: they take
// milliseconds when their process runs.
const fenceWait = 500 * time.Millisecond

const lockNotAvailable = "55P03"

// endFenceHolders terminates the other sessions that hold a lock on the fence table. The node's
// processes log in as one database role, which may end its own sessions.
func (s *Store) endFenceHolders(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'relation' AND relation = 'fence'::regclass AND granted
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND pid <> pg_backend_pid()`)
	return err
}

// fenced turns the fence's SQL error into account.ErrFenced.
func fenced(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == fencedState {
		return fmt.Errorf("%w: %s", account.ErrFenced, pgErr.Message)
	}
	return err
}

// Get returns account id.
func (s *Store) Get(ctx context.Context, id string) (account.Account, error) {
	return s.scan(s.pool.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts a WHERE a.id = $1`, id))
}

// List returns up to limit accounts with ids greater than after, leaving out those that have moved
// to another node.
func (s *Store) List(ctx context.Context, after string, limit int) ([]account.Account, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+accountColumns+` FROM accounts a
		WHERE a.id > $1 AND a.move_state <> 'gone' ORDER BY a.id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	defer rows.Close()
	var out []account.Account
	for rows.Next() {
		a, err := s.scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func (s *Store) scan(row pgx.Row, extra ...any) (account.Account, error) {
	var a account.Account
	var code string
	dest := append([]any{&a.ID, &code, &a.Balance, &a.OnHold, &a.PendingIn, &a.OverdraftLimit, &a.Status, &a.OpenedAt, &a.ClosedAt, &a.EventSeq, &a.Move.State, &a.Move.ID, &a.Move.Peer}, extra...)
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return a, account.ErrNotFound
		}
		return a, fmt.Errorf("read account: %w", err)
	}
	c, err := money.LookupCurrency(code)
	if err != nil {
		return a, fmt.Errorf("account %s: %w", a.ID, err)
	}
	a.Currency, a.Node = c, s.node
	return a, nil
}

// replay returns the stored result of an earlier request with key's id, if there is one.
func replay(ctx context.Context, tx pgx.Tx, accountID string, key account.Key) (account.Result, bool, error) {
	var fingerprint, reply []byte
	err := tx.QueryRow(ctx, `SELECT fingerprint, reply FROM requests WHERE account_id = $1 AND request_id = $2`,
		accountID, key.RequestID).Scan(&fingerprint, &reply)
	if errors.Is(err, pgx.ErrNoRows) {
		return account.Result{}, false, nil
	}
	if err != nil {
		return account.Result{}, false, fmt.Errorf("read request %s: %w", key.RequestID, err)
	}
	res, err := decodeReplay(key, fingerprint, reply)
	return res, true, err
}

func record(ctx context.Context, tx pgx.Tx, accountID string, key account.Key, res account.Result) error {
	reply, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO requests (account_id, request_id, fingerprint, reply) VALUES ($1, $2, $3, $4)`,
		accountID, key.RequestID, key.Fingerprint, reply)
	return err
}

package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tsbank/services/account/account"
)

// read is one query of a transaction's first round trip, and what to do with each of its rows.
type read struct {
	sql  string
	args []any
	each func(pgx.Rows) error
}

// result reads r's answer from br.
func (r read) result(br pgx.BatchResults) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := r.each(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// readModifyWrite runs one transaction in two round trips instead of four: BEGIN travels with the
// reads, and COMMIT with the writes. Every change to an account is such a transaction, and on this
// machine a round trip (two syscalls each side) costs more than the statements in it.
//
// The first read must lock what the transaction changes (SELECT … FOR UPDATE on the account). The
// reads after it are separate statements on purpose: under READ COMMITTED each statement sees what
// was committed when it started, so a read made after the lock is granted sees the work of the
// transaction that held it. Joined into the locking statement, it would see a snapshot from before
// the wait, and a decision racing another on the same leg would apply twice.
//
// The reads are sent after BEGIN and the fence check (see checkFence); decide then queues the
// writes (none, for a batch of replays). Any error rolls back.
func (s *Store) readModifyWrite(ctx context.Context, reads []read, decide func(*pgx.Batch) error) (err error) {
	defer func() { err = fenced(err) }()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	ok := false
	defer func() {
		if !ok {
			rollback(ctx, conn)
		}
	}()
	first := &pgx.Batch{}
	first.Queue("BEGIN")
	first.Queue(checkFence, s.epoch.Load())
	for _, r := range reads {
		first.Queue(r.sql, r.args...)
	}
	br := conn.SendBatch(ctx, first)
	_, err = br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	for _, r := range reads {
		if err != nil {
			break
		}
		err = r.result(br)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	writes := &pgx.Batch{}
	if err := decide(writes); err != nil {
		return err
	}
	writes.Queue("COMMIT")
	if err := conn.SendBatch(ctx, writes).Close(); err != nil {
		return err
	}
	ok = true
	return nil
}

// lockAccounts is the read that locks the accounts ids, in id order (two transactions that
// share accounts lock them in one order, so they cannot deadlock), into accounts by id. An id
// that is not on this node is missing from accounts.
func (s *Store) lockAccounts(ids []string, accounts map[string]*account.Account) read {
	return read{sql: `SELECT ` + accountColumns + ` FROM accounts a WHERE a.id = ANY($1) ORDER BY a.id FOR UPDATE`, args: []any{ids},
		each: func(rows pgx.Rows) error {
			a, err := s.scan(rows)
			accounts[a.ID] = &a
			return err
		}}
}

// rollback ends a failed transaction; a connection that cannot even roll back is closed, so the
// pool does not hand it out again in a broken state.
func rollback(ctx context.Context, conn *pgxpool.Conn) {
	if _, err := conn.Exec(context.WithoutCancel(ctx), "ROLLBACK"); err != nil {
		_ = conn.Conn().Close(context.WithoutCancel(ctx))
	}
}

// checkFence fails the transaction (SQLSTATE TSB01) unless this process's epoch is the fence's,
// and holds a share lock on the fence until the transaction ends, so that a take-over waits for
// it (migrations/account/000003_fence).
const checkFence = `SELECT tsbank_check_fence($1)`

const fencedState = "TSB01"

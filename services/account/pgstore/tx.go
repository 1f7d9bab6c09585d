package pgstore

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// errNothingToWrite ends a transaction after its read without writing anything, for a request already
// answered (an idempotent replay): it is a normal outcome, not a failure.
var errNothingToWrite = errors.New("nothing to write")

// readModifyWrite runs one transaction in two round trips instead of four: BEGIN travels with the
// locking read, and COMMIT with the writes. Every change to an account is such a transaction, and
// on this machine a round trip (two syscalls each side) costs more than the statements in it.
//
// read is sent with BEGIN and the fence check (see checkFence), and scanned by scan; decide then queues the writes (or returns
// errNothingToWrite to end the transaction with nothing written). Any error rolls back.
func (s *Store) readModifyWrite(ctx context.Context, sql string, args []any, scan func(pgx.Row) error, decide func(*pgx.Batch) error) (err error) {
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
	first.Queue(sql, args...)
	br := conn.SendBatch(ctx, first)
	_, err = br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		err = scan(br.QueryRow())
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	writes := &pgx.Batch{}
	if err := decide(writes); errors.Is(err, errNothingToWrite) {
		writes = &pgx.Batch{}
	} else if err != nil {
		return err
	}
	writes.Queue("COMMIT")
	if err := conn.SendBatch(ctx, writes).Close(); err != nil {
		return err
	}
	ok = true
	return nil
}

// checkFence fails the transaction (SQLSTATE TSB01) unless this process's epoch is the fence's,
// and holds a share lock on the fence until the transaction ends, so that a take-over waits for
// it (migrations/account/000003_fence).
const checkFence = `SELECT tsbank_check_fence($1)`

const fencedState = "TSB01"

// rollback ends a failed transaction; a connection that cannot even roll back is closed, so the
// pool does not hand it out again in a broken state.
func rollback(ctx context.Context, conn *pgxpool.Conn) {
	if _, err := conn.Exec(context.WithoutCancel(ctx), "ROLLBACK"); err != nil {
		_ = conn.Conn().Close(context.WithoutCancel(ctx))
	}
}

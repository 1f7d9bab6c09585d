package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// PruneRequests deletes up to limit idempotency records older than age, oldest first, and says how
// many it deleted. Age is measured on the database's clock, the one that stamped the records. A
// retry of a pruned request runs again as a new request, so age must be longer than any client
// keeps retrying (ADR 0004). The delete is fenced like every other write of the node.
func (s *Store) PruneRequests(ctx context.Context, age time.Duration, limit int) (n int64, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, checkFence, s.epoch.Load()); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM requests WHERE (account_id, request_id) IN (
			SELECT account_id, request_id FROM requests
			WHERE created_at < now() - make_interval(secs => $1)
			ORDER BY created_at LIMIT $2)`, age.Seconds(), limit)
		n = tag.RowsAffected()
		return err
	})
	return n, fenced(err)
}

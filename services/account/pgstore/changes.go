package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tsbank/services/account/account"
)

// A change is one Change call waiting in the store's batch.Group: concurrent deposits,
// withdrawals, limits and closes on this node share one transaction and one commit, as the legs
// of a batch do (docs/adr/0026).
type change struct {
	ctx context.Context // the caller's: a change whose caller has given up by its batch's turn is not made
	id  string
	key account.Key
	fn  func(*account.Account) (*account.Event, error)
}

type changed struct {
	res account.Result
	err error
}

// changeTimeout bounds one batch of changes: once a batch has begun, the callers' contexts no
// longer reach it.
const changeTimeout = 10 * time.Second

// Change locks account id, checks key, applies fn and writes the account, the event fn returns
// (to the outbox) and the idempotency record, in one transaction with the other changes that
// arrive while one is being written. If fn fails nothing of this change is written.
func (s *Store) Change(ctx context.Context, id string, key account.Key, fn func(*account.Account) (*account.Event, error)) (account.Result, error) {
	c, _ := s.changes.Submit(change{ctx: ctx, id: id, key: key, fn: fn})
	select {
	case <-c.Done():
		r := c.Result()
		return r.res, r.err
	case <-ctx.Done():
		return account.Result{}, ctx.Err() // it may still be written: a retry with its id is answered from the record
	}
}

// writeLiveChanges writes the changes whose callers still wait (writeChanges), and makes none of
// the others: a request past its deadline, or whose caller went away, is not applied late (its
// caller may have retried it meanwhile, and is answered from the record if so).
func (s *Store) writeLiveChanges(items []change) []changed {
	out := make([]changed, len(items))
	var live []change
	var at []int
	for i, it := range items {
		if err := it.ctx.Err(); err != nil {
			out[i].err = err
			continue
		}
		live, at = append(live, it), append(at, i)
	}
	if len(live) == len(items) {
		return s.writeChanges(items)
	}
	if len(live) > 0 {
		for k, r := range s.writeChanges(live) {
			out[at[k]] = r
		}
	}
	return out
}

// writeChanges runs items in one transaction, in two round trips: the first locks their accounts
// in id order and then reads the idempotency records of their keys; the second writes each
// changed account once, the events and the new records. Each item has its own result: a replay,
// a refusal of its fn, a conflict of its key, or what it did. Only a fault of the database fails
// them all.
func (s *Store) writeChanges(items []change) []changed {
	ctx, cancel := context.WithTimeout(context.Background(), changeTimeout)
	defer cancel()
	type requestKey struct{ account, request string }
	type stored struct{ fingerprint, reply []byte }
	var ids, accountsOfKeys, requestIDs []string
	seen := map[string]bool{}
	for _, it := range items {
		if !seen[it.id] {
			seen[it.id] = true
			ids = append(ids, it.id)
		}
		accountsOfKeys, requestIDs = append(accountsOfKeys, it.id), append(requestIDs, it.key.RequestID)
	}
	accounts := map[string]*account.Account{}
	records := map[requestKey]stored{}
	out := make([]changed, len(items))
	err := s.readModifyWrite(ctx, []read{
		s.lockAccounts(ids, accounts),
		// Joined on both columns of the primary key: an account may have millions of records.
		{sql: `SELECT r.account_id, r.request_id, r.fingerprint, r.reply FROM requests r
			JOIN unnest($1::text[], $2::text[]) AS k(account_id, request_id)
			  ON r.account_id = k.account_id AND r.request_id = k.request_id`,
			args: []any{accountsOfKeys, requestIDs},
			each: func(rows pgx.Rows) error {
				var k requestKey
				var st stored
				if err := rows.Scan(&k.account, &k.request, &st.fingerprint, &st.reply); err != nil {
					return err
				}
				records[k] = st
				return nil
			}},
	}, func(b *pgx.Batch) error {
		var w writes
		var newKeys []requestKey
		var newRecords []stored
		for i, it := range items {
			k := requestKey{it.id, it.key.RequestID}
			if st, ok := records[k]; ok {
				out[i].res, out[i].err = decodeReplay(it.key, st.fingerprint, st.reply)
				continue
			}
			a := accounts[it.id]
			if a == nil {
				out[i].err = fmt.Errorf("%w: %s", account.ErrNotFound, it.id)
				continue
			}
			work := *a // fn works on a copy, so that a refusal leaves no trace
			ev, err := it.fn(&work)
			if err != nil {
				out[i].err = err
				continue
			}
			w.keep(a, work, ev)
			out[i].res = account.Result{Account: *a, Event: ev}
			reply, err := json.Marshal(out[i].res)
			if err != nil {
				return fmt.Errorf("encode result: %w", err)
			}
			// A later item with the same key, in this batch, is a replay of this one.
			records[k] = stored{it.key.Fingerprint, reply}
			newKeys, newRecords = append(newKeys, k), append(newRecords, stored{it.key.Fingerprint, reply})
		}
		switch len(newKeys) {
		case 0:
		case 1:
			b.Queue(`INSERT INTO requests (account_id, request_id, fingerprint, reply) VALUES ($1, $2, $3, $4)`,
				newKeys[0].account, newKeys[0].request, newRecords[0].fingerprint, newRecords[0].reply)
		default:
			owners, requests := make([]string, len(newKeys)), make([]string, len(newKeys))
			fingerprints, replies := make([][]byte, len(newKeys)), make([]string, len(newKeys))
			for i, k := range newKeys {
				owners[i], requests[i], fingerprints[i], replies[i] = k.account, k.request, newRecords[i].fingerprint, string(newRecords[i].reply)
			}
			b.Queue(`INSERT INTO requests (account_id, request_id, fingerprint, reply)
				SELECT a, r, f, p::jsonb FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[]) AS u(a, r, f, p)`,
				owners, requests, fingerprints, replies)
		}
		return w.queue(b, s.encode)
	})
	if err != nil {
		for i := range out {
			out[i] = changed{err: err}
		}
	}
	return out
}

func decodeReplay(key account.Key, fingerprint, reply []byte) (account.Result, error) {
	if err := key.Replays(fingerprint); err != nil {
		return account.Result{}, err
	}
	var res account.Result
	if err := json.Unmarshal(reply, &res); err != nil {
		return res, fmt.Errorf("decode stored reply of %s: %w", key.RequestID, err)
	}
	return res, nil
}

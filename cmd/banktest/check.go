package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tsbank/contract"
)

// invariant is one property the checker verified, with what it found.
type invariant struct {
	Name   string
	OK     bool
	Detail string
}

// checker reads every database of the settled system and the history service's reconciliation.
type checker struct {
	s        *system
	w        *workload
	pools    map[string]*pgxpool.Pool
	deposits int64 // minor units deposited at setup
}

func (c *checker) pool(ctx context.Context, db string) (*pgxpool.Pool, error) {
	if p, ok := c.pools[db]; ok {
		return p, nil
	}
	p, err := pgxpool.New(ctx, c.s.dbs[db])
	if err != nil {
		return nil, err
	}
	c.pools[db] = p
	return p, nil
}

func (c *checker) close() {
	for _, p := range c.pools {
		p.Close()
	}
}

var nodeDBs = []string{"account_1", "account_2"}

// sum runs a query returning one integer on each node database and adds the results.
func (c *checker) sum(ctx context.Context, sql string) (int64, error) {
	var total int64
	for _, db := range nodeDBs {
		p, err := c.pool(ctx, db)
		if err != nil {
			return 0, err
		}
		var n int64
		if err := p.QueryRow(ctx, sql).Scan(&n); err != nil {
			return 0, fmt.Errorf("%s: %w", db, err)
		}
		total += n
	}
	return total, nil
}

// settled waits until no transfer is undecided or unacknowledged and no leg is held.
func (c *checker) settled(ctx context.Context, total time.Duration) error {
	deadline := time.Now().Add(total)
	var last error
	for time.Now().Before(deadline) {
		last = func() error {
			coord, err := c.pool(ctx, "coordinator")
			if err != nil {
				return err
			}
			var open int64
			if err := coord.QueryRow(ctx, `SELECT count(*) FROM transfers WHERE state <> 'done'`).Scan(&open); err != nil {
				return err
			}
			held, err := c.sum(ctx, `SELECT count(*) FROM holds WHERE state = 'prepared'`)
			if err != nil {
				return err
			}
			if open+held > 0 {
				return fmt.Errorf("%d transfers not done, %d legs held", open, held)
			}
			return nil
		}()
		if last == nil {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("not settled after %s: %v", total, last)
}

type legs struct {
	states          map[string]string // leg -> state
	outs, ins       int               // transfer_out and transfer_in events
	logged          bool
	outcome, status string
}

func (c *checker) check(ctx context.Context, replayMismatches []string) ([]invariant, error) {
	var inv []invariant
	add := func(name string, ok bool, format string, args ...any) {
		inv = append(inv, invariant{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}

	// Each node's accounts are those it serves: an account that moved away keeps its last row,
	// marked gone, on the node it left (docs/adr/0036).
	total, err := c.sum(ctx, `SELECT coalesce(sum(balance), 0) FROM accounts WHERE move_state <> 'gone'`)
	if err != nil {
		return nil, err
	}
	negative, err := c.sum(ctx, `SELECT count(*) FROM accounts WHERE balance < 0 AND move_state <> 'gone'`)
	if err != nil {
		return nil, err
	}
	add("no money created or lost", total == c.deposits, "sum of balances %d, sum of deposits %d (minor units)", total, c.deposits)
	add("no negative balance", negative == 0, "%d accounts below zero", negative)

	held, err := c.sum(ctx, `SELECT (SELECT count(*) FROM holds WHERE state = 'prepared')
		+ (SELECT coalesce(sum(on_hold + pending_in), 0) FROM accounts WHERE move_state <> 'gone')`)
	if err != nil {
		return nil, err
	}
	coord, err := c.pool(ctx, "coordinator")
	if err != nil {
		return nil, err
	}
	var undecided int64
	if err := coord.QueryRow(ctx, `SELECT count(*) FROM transfers WHERE state <> 'done'`).Scan(&undecided); err != nil {
		return nil, err
	}
	add("no hold and no undecided transfer remains", held == 0 && undecided == 0, "held legs plus amounts on hold %d, %d transfers not done", held, undecided)

	// Every transfer: the log, its legs and its events.
	byID := map[string]*legs{}
	byRequest := map[string]string{} // from/request id -> transfer id
	rows, err := coord.Query(ctx, `SELECT transfer_id, from_account, request_id, coalesce(outcome, '') FROM transfers`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id, from, req, outcome string
		if err := rows.Scan(&id, &from, &req, &outcome); err != nil {
			return nil, err
		}
		byID[id] = &legs{states: map[string]string{}, logged: true, outcome: outcome}
		byRequest[from+"/"+req] = id
	}
	rows.Close()
	for _, db := range nodeDBs {
		p, _ := c.pool(ctx, db)
		rows, err := p.Query(ctx, `SELECT transfer_id, leg, state FROM holds`)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, leg, state string
			if err := rows.Scan(&id, &leg, &state); err != nil {
				return nil, err
			}
			if byID[id] == nil {
				byID[id] = &legs{states: map[string]string{}}
			}
			byID[id].states[leg] = state
		}
		rows.Close()
		rows, err = p.Query(ctx, `SELECT payload->>'transfer_id', payload->>'type' FROM outbox WHERE payload ? 'transfer_id'`)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, typ string
			if err := rows.Scan(&id, &typ); err != nil {
				return nil, err
			}
			if byID[id] == nil {
				byID[id] = &legs{states: map[string]string{}}
			}
			if typ == contract.EventTransferOut {
				byID[id].outs++
			} else {
				byID[id].ins++
			}
		}
		rows.Close()
	}
	applied := func(l *legs) bool {
		return l != nil && l.states["debit"] == "committed" && l.states["credit"] == "committed" && l.outs == 1 && l.ins == 1
	}
	untouched := func(l *legs) bool {
		return l == nil || (l.states["debit"] != "committed" && l.states["credit"] != "committed" && l.outs == 0 && l.ins == 0)
	}
	var badLog, badOK, badAborted, badUnknown []string
	committed := 0
	for id, l := range byID {
		switch {
		case l.logged && l.outcome == "committed":
			committed++
			if !applied(l) {
				badLog = append(badLog, id)
			}
		case !untouched(l):
			badLog = append(badLog, id)
		}
	}
	counts := map[string]int{}
	c.w.mu.Lock()
	for _, op := range c.w.ops {
		key := op.Outcome
		if op.Outcome == outOK {
			key += " " + string(op.Status)
		}
		counts[key]++
		l := byID[byRequest[op.From+"/"+op.ID]]
		switch {
		case op.Outcome == outOK && op.Status == contract.TransferCommitted:
			if !applied(l) {
				badOK = append(badOK, op.From+"/"+op.ID)
			}
		case op.Outcome == outOK || op.Outcome == outFail:
			if !untouched(l) {
				badAborted = append(badAborted, op.From+"/"+op.ID)
			}
		default:
			if !applied(l) && !untouched(l) {
				badUnknown = append(badUnknown, op.From+"/"+op.ID)
			}
		}
	}
	c.w.mu.Unlock()
	add("every committed transfer in the log applied once on both legs", len(badLog) == 0, "%d committed in the log; %d inconsistent %v", committed, len(badLog), first(badLog))
	add("every transfer acknowledged committed applied exactly once", len(badOK) == 0, "%d acknowledged committed; %d not applied once %v", counts["ok committed"], len(badOK), first(badOK))
	add("no transfer acknowledged aborted (or refused) applied", len(badAborted) == 0, "%d acknowledged aborted or refused; %d applied %v", counts["ok aborted"]+counts[outFail], len(badAborted), first(badAborted))
	add("every unknown transfer applied entirely or not at all", len(badUnknown) == 0, "%d unknown; %d half-applied %v", counts[outUnknown], len(badUnknown), first(badUnknown))
	add("replayed requests got their first answer", len(replayMismatches) == 0, "%d changed answers %v", len(replayMismatches), first(replayMismatches))

	// The history: one row per event of every outbox, and reconciliation.
	hist, err := c.pool(ctx, "history")
	if err != nil {
		return nil, err
	}
	events, err := c.sum(ctx, `SELECT count(*) FROM outbox`)
	if err != nil {
		return nil, err
	}
	var historyRows, historyOut, deposits int64
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := hist.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE type = 'transfer_out'), count(*) FILTER (WHERE type = 'deposit') FROM transactions`).Scan(&historyRows, &historyOut, &deposits); err != nil {
			return nil, err
		}
		if historyRows >= events || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	missing, err := c.missingFromHistory(ctx, hist)
	if err != nil {
		return nil, err
	}
	add("the history holds every event exactly once", historyRows == events && missing == 0 && historyOut == int64(committed),
		"%d rows for %d outbox events (%d missing); %d transfer_out rows for %d committed transfers; %d deposits", historyRows, events, missing, historyOut, committed, deposits)
	ok, detail := c.countersMatch(ctx, hist)
	add("the bank's counters equal the history", ok, "%s", detail)
	var rec contract.Reconciliation
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = c.w.c.Call(rctx, contract.SubjectReconcile, contract.ReconcileRequest{}, &rec)
	add("reconciliation reports no difference", err == nil && len(rec.Differences) == 0, "%d accounts checked, differences %+v %v", rec.Accounts, rec.Differences, errOrNil(err))
	return inv, nil
}

// countersMatch waits until the history has counted every committed transfer, then compares each
// day's counters (TSBANK_COUNTERS), bank-wide and per paying node, with the history's rows: the
// history was killed while it counted, and Postgres and NATS stopped under it.
func (c *checker) countersMatch(ctx context.Context, hist *pgxpool.Pool) (bool, string) {
	nc, err := nats.Connect(strings.Join(c.s.natsURLs, ","), c.s.operator())
	if err != nil {
		return false, err.Error()
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return false, err.Error()
	}
	stream, err := js.Stream(ctx, contract.CountersStream)
	if err != nil {
		return false, err.Error()
	}
	value := func(subject string) int64 {
		m, err := stream.GetLastMsgForSubject(ctx, subject)
		if err != nil {
			return 0
		}
		var v struct {
			Val string `json:"val"`
		}
		_ = json.Unmarshal(m.Data, &v)
		n, _ := strconv.ParseInt(v.Val, 10, 64)
		return n
	}
	var uncounted int64
	for range 60 {
		if err := hist.QueryRow(ctx, `SELECT count(*) FROM transactions WHERE type = 'transfer_out' AND counted_at IS NULL`).Scan(&uncounted); err != nil {
			return false, err.Error()
		}
		if uncounted == 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if uncounted > 0 {
		return false, fmt.Sprintf("%d committed transfers still not counted after 30 s", uncounted)
	}
	rows, err := hist.Query(ctx, `SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), node, currency, count(*), sum(abs(amount_minor))
		FROM transactions WHERE type = 'transfer_out' GROUP BY 1, 2, 3`)
	if err != nil {
		return false, err.Error()
	}
	defer rows.Close()
	want := map[string]int64{}
	for rows.Next() {
		var day, node, currency string
		var n, volume int64
		if err := rows.Scan(&day, &node, &currency, &n, &volume); err != nil {
			return false, err.Error()
		}
		for _, who := range []string{"", node} {
			want[contract.TransfersCounter(day, who)] += n
			want[contract.VolumeCounter(day, who, currency)] += volume
		}
	}
	if err := rows.Err(); err != nil {
		return false, err.Error()
	}
	var wrong []string
	for subject, n := range want {
		if got := value(subject); got != n {
			wrong = append(wrong, fmt.Sprintf("%s %d (history %d)", subject, got, n))
		}
	}
	slices.Sort(wrong)
	return len(wrong) == 0, fmt.Sprintf("%d counters checked; wrong %v", len(want), wrong)
}

// missingFromHistory counts the outbox events the history lacks.
func (c *checker) missingFromHistory(ctx context.Context, hist *pgxpool.Pool) (int, error) {
	have := map[string]bool{}
	rows, err := hist.Query(ctx, `SELECT event_id::text FROM transactions`)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return 0, err
		}
		have[id] = true
	}
	rows.Close()
	missing := 0
	for _, db := range nodeDBs {
		p, _ := c.pool(ctx, db)
		rows, err := p.Query(ctx, `SELECT event_id::text FROM outbox`)
		if err != nil {
			return 0, err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return 0, err
			}
			if !have[id] {
				missing++
			}
		}
		rows.Close()
	}
	return missing, nil
}

func first(xs []string) []string { return xs[:min(len(xs), 5)] }

func errOrNil(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Package memstore keeps an account node's accounts in memory: account.Store, account.MoveStore
// and account.Registry over maps, for the use cases' unit tests and the fast tier, which run
// without PostgreSQL or NATS. It keeps what pgstore keeps and as pgstore keeps it (a stored reply
// is its JSON, a leg's message is not kept, a leg's currency is its account's), so that one
// contract test (accounttest.TestStore) holds both to the same behaviour. It does not repeat the
// database's own checks (migrations/account: no drawing beyond the overdraft limit, no negative
// hold), which back up rules the domain enforces already.
package memstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"tsbank/contract"
	"tsbank/contract/money"
	"tsbank/services/account/account"
)

// Store is one node's database in memory. One mutex stands for the row locks of pgstore: every
// call runs alone, as if it were one transaction holding every lock.
type Store struct {
	node string

	mu       sync.Mutex
	accounts map[string]account.Account
	requests map[requestKey]requestRow
	holds    map[holdKey]account.Hold
	outbox   []account.Event
}

// New returns an empty store of node's accounts.
func New(node string) *Store {
	return &Store{node: node, accounts: map[string]account.Account{},
		requests: map[requestKey]requestRow{}, holds: map[holdKey]account.Hold{}}
}

type requestKey struct{ account, request string }

// holdKey is the holds table's primary key: a transfer's leg is held on one account only.
type holdKey struct{ transfer, leg string }

// requestRow is an idempotency record, and a row of a move's requests part.
type requestRow struct {
	AccountID   string          `json:"account_id"`
	RequestID   string          `json:"request_id"`
	Fingerprint []byte          `json:"fingerprint"`
	Reply       json.RawMessage `json:"reply"`
}

// holdRow is a row of a move's holds part.
type holdRow struct {
	account.Hold
	AccountID string `json:"account_id"`
}

// Outbox returns the events written so far, in commit order.
func (s *Store) Outbox() []account.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.outbox)
}

// Create implements account.Store.Create.
func (s *Store) Create(ctx context.Context, a account.Account, key account.Key) (account.Result, error) {
	if err := ctx.Err(); err != nil {
		return account.Result{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if res, found, err := s.replay(a.ID, key); found {
		return res, err
	}
	if _, taken := s.accounts[a.ID]; taken {
		return account.Result{}, fmt.Errorf("%w: %s", account.ErrExists, a.ID)
	}
	// What pgstore's insert keeps of a new account: the rest starts at zero.
	s.accounts[a.ID] = account.Account{ID: a.ID, Currency: a.Currency, OverdraftLimit: a.OverdraftLimit,
		Status: a.Status, OpenedAt: a.OpenedAt}
	res := account.Result{Account: a}
	return res, s.record(a.ID, key, res)
}

// Change implements account.Store.Change.
func (s *Store) Change(ctx context.Context, id string, key account.Key, fn func(*account.Account) (*account.Event, error)) (account.Result, error) {
	if err := ctx.Err(); err != nil {
		return account.Result{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if res, found, err := s.replay(id, key); found {
		return res, err
	}
	a, ok := s.account(id)
	if !ok {
		return account.Result{}, fmt.Errorf("%w: %s", account.ErrNotFound, id)
	}
	ev, err := fn(&a) // a is a copy: a refusal leaves no trace
	if err != nil {
		return account.Result{}, err
	}
	res := account.Result{Account: a, Event: ev}
	if err := s.record(id, key, res); err != nil {
		return account.Result{}, err
	}
	s.save(a)
	if ev != nil {
		s.outbox = append(s.outbox, *ev)
	}
	return res, nil
}

// replay returns the stored result of an earlier request with key's id on account id, if any.
func (s *Store) replay(id string, key account.Key) (account.Result, bool, error) {
	r, found := s.requests[requestKey{id, key.RequestID}]
	if !found {
		return account.Result{}, false, nil
	}
	if err := key.Replays(r.Fingerprint); err != nil {
		return account.Result{}, true, err
	}
	var res account.Result
	if err := json.Unmarshal(r.Reply, &res); err != nil {
		return account.Result{}, true, fmt.Errorf("decode stored reply of %s: %w", key.RequestID, err)
	}
	return res, true, nil
}

func (s *Store) record(id string, key account.Key, res account.Result) error {
	reply, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	s.requests[requestKey{id, key.RequestID}] = requestRow{AccountID: id, RequestID: key.RequestID,
		Fingerprint: key.Fingerprint, Reply: reply}
	return nil
}

// account returns a copy of account id as a read of the store returns it.
func (s *Store) account(id string) (account.Account, bool) {
	a, ok := s.accounts[id]
	a.Node = s.node
	return a, ok
}

func (s *Store) save(a account.Account) {
	a.Node = ""
	s.accounts[a.ID] = a
}

// Get implements account.Store.Get.
func (s *Store) Get(ctx context.Context, id string) (account.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.account(id)
	if !ok {
		return account.Account{}, account.ErrNotFound
	}
	return a, nil
}

// List implements account.Store.List: as pgstore's, it leaves out the accounts that have moved to
// another node.
func (s *Store) List(ctx context.Context, after string, limit int) ([]account.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []account.Account
	for id := range s.accounts {
		if a, _ := s.account(id); id > after && a.Move.State != account.MoveGone {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(x, y account.Account) int { return cmp.Compare(x.ID, y.ID) })
	return out[:min(limit, len(out))], nil
}

// Legs implements account.Store.Legs. The batch's changes are kept aside and made only once
// every call has run, so that a batch pgstore would roll back (a leg held on another account)
// changes nothing here either.
func (s *Store) Legs(ctx context.Context, keys []account.LegKey, apply func(i int, a *account.Account, known *account.Hold) (account.Hold, bool, *account.Event, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	accounts := map[string]account.Account{}
	holds := map[holdKey]account.Hold{}
	var events []account.Event
	for i, k := range keys {
		a, ok := accounts[k.Account]
		if !ok {
			a, ok = s.account(k.Account)
		}
		var work *account.Account
		if ok {
			copied := a // apply works on a copy, so that a step that fails leaves no trace
			work = &copied
		}
		hk := holdKey{k.TransferID, k.Leg}
		h, exists := holds[hk]
		if !exists {
			h, exists = s.holds[hk]
		}
		var known *account.Hold
		if exists && h.Account == k.Account {
			if ok {
				h.Currency = a.Currency
			}
			known = &h
		}
		after, write, ev, err := apply(i, work, known)
		if err != nil || !write || !ok {
			continue
		}
		if exists && h.Account != k.Account {
			return fmt.Errorf("leg %s/%s is held on account %s, not %s", k.TransferID, k.Leg, h.Account, k.Account)
		}
		accounts[k.Account], holds[hk] = *work, after
		if ev != nil {
			events = append(events, *ev)
		}
	}
	for _, a := range accounts {
		s.save(a)
	}
	for k, h := range holds {
		h.Message, h.Currency = "", money.Currency{} // not kept: said once, and the account's
		s.holds[k] = h
	}
	s.outbox = append(s.outbox, events...)
	return nil
}

// StaleHolds implements account.Store.StaleHolds: oldest first.
func (s *Store) StaleHolds(ctx context.Context, before time.Time, limit int) ([]account.Hold, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []account.Hold
	for _, h := range s.holds {
		if h.State == contract.HoldPrepared && h.CreatedAt.Before(before) {
			h.Currency = s.accounts[h.Account].Currency
			out = append(out, h)
		}
	}
	slices.SortFunc(out, func(x, y account.Hold) int { return x.CreatedAt.Compare(y.CreatedAt) })
	return out[:min(limit, len(out))], nil
}

// Moving implements account.MoveStore.Moving. As pgstore's, it saves only the account's Move.
func (s *Store) Moving(ctx context.Context, id string, fn func(*account.Account, int) error) (account.Account, int, error) {
	if err := ctx.Err(); err != nil {
		return account.Account{}, 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.account(id)
	if !ok {
		return account.Account{}, 0, account.ErrNotFound
	}
	prepared := 0
	for _, h := range s.holds {
		if h.Account == id && h.State == contract.HoldPrepared {
			prepared++
		}
	}
	if err := fn(&a, prepared); err != nil {
		return a, prepared, err
	}
	stored := s.accounts[id]
	stored.Move = a.Move
	s.accounts[id] = stored
	return a, prepared, nil
}

// Export implements account.MoveStore.Export. The rows are this package's own JSON: opaque
// outside the store, as pgstore's are, and read only by another memstore's Import.
func (s *Store) Export(ctx context.Context, id, part, after string, limit int) (account.Page, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	page := account.Page{Part: part}
	var rows []any
	var cursors []string
	switch part {
	case account.PartAccount:
		if a, ok := s.accounts[id]; ok {
			rows, cursors = append(rows, a), append(cursors, id)
		}
	case account.PartRequests:
		var keys []requestKey
		for k := range s.requests {
			if k.account == id && k.request > after {
				keys = append(keys, k)
			}
		}
		slices.SortFunc(keys, func(x, y requestKey) int { return cmp.Compare(x.request, y.request) })
		for _, k := range keys[:min(limit, len(keys))] {
			rows, cursors = append(rows, s.requests[k]), append(cursors, k.request)
		}
	case account.PartHolds:
		var from holdKey
		if after != "" {
			var cursor [2]string
			if err := json.Unmarshal([]byte(after), &cursor); err != nil {
				return page, fmt.Errorf("%w: a bad cursor", account.ErrMoveConflict)
			}
			from = holdKey{cursor[0], cursor[1]}
		}
		var keys []holdKey
		for k, h := range s.holds {
			if h.Account == id && compareHolds(k, from) > 0 {
				keys = append(keys, k)
			}
		}
		slices.SortFunc(keys, compareHolds)
		for _, k := range keys[:min(limit, len(keys))] {
			cursor, _ := json.Marshal([2]string{k.transfer, k.leg}) // two strings always encode
			rows, cursors = append(rows, holdRow{Hold: s.holds[k], AccountID: id}), append(cursors, string(cursor))
		}
	default:
		return page, fmt.Errorf("%w: no part %q", account.ErrMoveConflict, part)
	}
	for _, r := range rows {
		b, err := json.Marshal(r)
		if err != nil {
			return page, fmt.Errorf("export %s of %s: %w", part, id, err)
		}
		page.Rows = append(page.Rows, b)
	}
	if part != account.PartAccount && len(page.Rows) == limit {
		page.Next = cursors[len(cursors)-1]
	}
	return page, nil
}

func compareHolds(x, y holdKey) int {
	return cmp.Or(cmp.Compare(x.transfer, y.transfer), cmp.Compare(x.leg, y.leg))
}

// Import implements account.MoveStore.Import: the account's row replaces the one this node had,
// with the move's state; records and legs this node has already are kept; rows of another
// account are not written.
func (s *Store) Import(ctx context.Context, id string, move account.Move, part string, rows []json.RawMessage,
	allow func(*account.Account) (bool, error)) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var current *account.Account
	if a, ok := s.account(id); ok {
		current = &a
	}
	if write, err := allow(current); err != nil || !write {
		return 0, err
	}
	n := 0
	for _, raw := range rows {
		switch part {
		case account.PartAccount:
			var a account.Account
			if err := json.Unmarshal(raw, &a); err != nil {
				return 0, fmt.Errorf("import %s of %s: %w", part, id, err)
			}
			if a.ID == id {
				a.Move = move
				s.save(a)
				n++
			}
		case account.PartRequests:
			var r requestRow
			if err := json.Unmarshal(raw, &r); err != nil {
				return 0, fmt.Errorf("import %s of %s: %w", part, id, err)
			}
			if k := (requestKey{r.AccountID, r.RequestID}); r.AccountID == id && !s.hasRequest(k) {
				s.requests[k] = r
				n++
			}
		case account.PartHolds:
			var r holdRow
			if err := json.Unmarshal(raw, &r); err != nil {
				return 0, fmt.Errorf("import %s of %s: %w", part, id, err)
			}
			if k := (holdKey{r.TransferID, r.Leg}); r.AccountID == id && !s.hasHold(k) {
				r.Hold.Account = id
				s.holds[k] = r.Hold
				n++
			}
		default:
			return 0, fmt.Errorf("%w: no part %q", account.ErrMoveConflict, part)
		}
	}
	return n, nil
}

func (s *Store) hasRequest(k requestKey) bool { _, ok := s.requests[k]; return ok }
func (s *Store) hasHold(k holdKey) bool       { _, ok := s.holds[k]; return ok }

// Registry is the global registry of account owners in memory.
type Registry struct {
	mu     sync.Mutex
	owners map[string]string
}

// Register implements account.Registry.Register: create-only, as the registry's KV entries.
func (r *Registry) Register(ctx context.Context, id, node string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if owner, ok := r.owners[id]; ok {
		return owner, nil
	}
	if r.owners == nil {
		r.owners = map[string]string{}
	}
	r.owners[id] = node
	return node, nil
}

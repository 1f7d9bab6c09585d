// Package transfertest has what the coordinator's tests share: a fake clock, fake account nodes
// (transfer.Participants) whose votes, failures and acknowledgements each test sets, metrics that
// remember what they were told, and the store contract test (TestStore), which every
// implementation of transfer.Store passes.
package transfertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"tsbank/contract"
	"tsbank/contract/money"
	"tsbank/services/coordinator/transfer"
)

// Clock is a fake clock: it moves only when a test advances it.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at now.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Call is one message the coordinator sent to a leg: a prepare, or a decision (Commit says which).
type Call struct {
	Account, ID, Leg string
	Commit           bool
}

// Nodes plays the account nodes. An account opened in a currency votes yes for any amount that
// currency can hold and acknowledges every decision, unless the test says otherwise: Refuse makes
// it vote no, Drop makes it leave decisions unacknowledged, Down takes its node away (no vote,
// no acknowledgement, no currency).
type Nodes struct {
	mu         sync.Mutex
	currencies map[string]money.Currency
	refusals   map[string]transfer.Vote
	drops      map[string]int
	down       map[string]bool
	prepared   []Call
	sent       []Call
}

// NewNodes returns nodes with no accounts.
func NewNodes() *Nodes {
	return &Nodes{currencies: map[string]money.Currency{}, refusals: map[string]transfer.Vote{}, drops: map[string]int{}, down: map[string]bool{}}
}

// Open opens accounts in currency code; an unknown code is a mistake of the test, and panics.
func (n *Nodes) Open(code string, accounts ...string) {
	c, err := money.LookupCurrency(code)
	if err != nil {
		panic(err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, a := range accounts {
		n.currencies[a] = c
	}
}

// Refuse makes account vote no, with reason, to every prepare.
func (n *Nodes) Refuse(account string, reason contract.Code) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.refusals[account] = transfer.Vote{Reason: reason, Message: account + " refused: " + string(reason)}
}

// Drop makes account leave the next k decisions sent to it unacknowledged (applied or not: the
// coordinator cannot tell).
func (n *Nodes) Drop(account string, k int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.drops[account] = k
}

// Down takes account's node away (down true) or brings it back.
func (n *Nodes) Down(account string, down bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.down[account] = down
}

// Prepared lists the prepares sent, in the order they arrived.
func (n *Nodes) Prepared() []Call {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Call(nil), n.prepared...)
}

// Sent lists the decisions sent, acknowledged or not, in the order they arrived.
func (n *Nodes) Sent() []Call {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Call(nil), n.sent...)
}

var errDown = errors.New("node_unavailable: the node of the account is not running")

// Prepare implements transfer.Participants.
func (n *Nodes) Prepare(_ context.Context, account string, t transfer.Transfer, leg string) transfer.Vote {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.prepared = append(n.prepared, Call{Account: account, ID: t.ID, Leg: leg})
	if n.down[account] {
		return transfer.Vote{Reason: contract.CodeNodeUnavailable, Message: fmt.Sprintf("the node of account %s is not running", account)}
	}
	if v, ok := n.refusals[account]; ok {
		return v
	}
	c, ok := n.currencies[account]
	if !ok {
		return transfer.Vote{Reason: contract.CodeAccountNotFound, Message: "no account " + account}
	}
	minor, err := money.Parse(t.Amount, c)
	if err != nil {
		return transfer.Vote{Reason: contract.CodeInvalidAmount, Message: err.Error()}
	}
	return transfer.Vote{Yes: true, Currency: c.Code, AmountMinor: minor}
}

// Send implements transfer.Participants.
func (n *Nodes) Send(_ context.Context, account string, t transfer.Transfer, leg string, commit bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, Call{Account: account, ID: t.ID, Leg: leg, Commit: commit})
	if n.down[account] {
		return errDown
	}
	if n.drops[account] > 0 {
		n.drops[account]--
		return fmt.Errorf("timeout: %s did not acknowledge", account)
	}
	return nil
}

// Currency implements transfer.Participants.
func (n *Nodes) Currency(_ context.Context, account string) (money.Currency, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.currencies[account]
	switch {
	case n.down[account]:
		return money.Currency{}, errDown
	case !ok:
		return c, transfer.ErrAccountNotFound
	}
	return c, nil
}

// Metrics remembers what the coordinator measured.
type Metrics struct {
	mu       sync.Mutex
	phases   map[string][]time.Duration
	outcomes []string // outcome/reason
	resent   int
	inFlight int
}

// NewMetrics returns metrics that have been told nothing.
func NewMetrics() *Metrics { return &Metrics{phases: map[string][]time.Duration{}} }

// Phase implements transfer.Metrics.
func (m *Metrics) Phase(name string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.phases[name] = append(m.phases[name], d)
}

// Outcome implements transfer.Metrics.
func (m *Metrics) Outcome(outcome contract.TransferState, reason contract.Code) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.outcomes = append(m.outcomes, string(outcome)+"/"+string(reason))
}

// Resent implements transfer.Metrics.
func (m *Metrics) Resent(legs int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resent += legs
}

// InFlight implements transfer.Metrics.
func (m *Metrics) InFlight(delta int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inFlight += delta
}

// Phases lists the durations measured of phase name.
func (m *Metrics) Phases(name string) []time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]time.Duration(nil), m.phases[name]...)
}

// Outcomes lists the outcomes counted, each as "outcome/reason".
func (m *Metrics) Outcomes() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.outcomes...)
}

// InFlightNow is the in-flight gauge: transfers begun and not yet delivered.
func (m *Metrics) InFlightNow() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.inFlight
}

// ResentLegs is how many legs' decisions recovery has re-sent.
func (m *Metrics) ResentLegs() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.resent
}

package contract

import (
	"fmt"
	"strings"
	"time"
)

// Names of the JetStream assets the services share.
const (
	// EventsStream holds every balance-change event, published by the account nodes' outbox relays.
	EventsStream = "TSBANK_EVENTS"
	// AccountsBucket is the global registry: key = account id, value = the owning node's name.
	AccountsBucket = "tsbank_accounts"
	// NodesBucket holds one key per live account node, refreshed by a heartbeat and expired by TTL.
	NodesBucket = "tsbank_nodes"
	// LeasesBucket holds one key per account node: which process serves it (docs/adr/0016).
	LeasesBucket = "tsbank_leases"
	// HistoryConsumer is the history service's durable consumer on EventsStream.
	HistoryConsumer = "history"
)

// NodeTTL is how long a node stays listed in NodesBucket after its last heartbeat; it heartbeats
// at a third of it. Short, so that a node that died leaves the list within seconds.
const NodeTTL = 3 * time.Second

// KnownNodeKey is the key in AccountsBucket that records, for ever, that node ran: `node.<name>`.
// An account id cannot contain '.', so it is no account's key, and `node.*` lists every node.
func KnownNodeKey(node string) string { return "node." + node }

// Operations on one account. The account id is always a subject token, so NATS permissions alone
// can confine a customer to their own account.
const (
	OpOpen     = "open"
	OpGet      = "get"
	OpBalance  = "balance"
	OpDeposit  = "deposit"
	OpWithdraw = "withdraw"
	OpClose    = "close"
	OpWhereis  = "whereis"
	// OpLimit sets the account's overdraft limit. It is the bank's decision, not the customer's:
	// NATS permissions keep it for operators.
	OpLimit = "limit"
)

// Two-phase-commit operations of a transfer leg, served by the node that owns the leg's account
// on NodeAccountSubject(node, account, op). Only the coordinator sends them.
const (
	OpPrepare = "prepare"
	OpCommit  = "commit"
	OpAbort   = "abort"
)

// Subjects of requests that name no account.
const (
	SubjectOpenGenerated = "bank.accounts.open" // open an account whose id the system derives
	SubjectListAccounts  = "bank.accounts.list" // list accounts of one node or of all nodes
	SubjectListNodes     = "bank.nodes.list"    // list the live account nodes
	EventsSubjects       = "bank.events.>"      // every event as customers see it, for `nats sub`
	OutboxSubjects       = "bank.outbox.>"      // every event as the nodes publish it, for the stream

	SubjectReconcile        = "bank.history.reconcile"    // compare the history with the nodes' balances
	SubjectDecision         = "bank.coordinator.decision" // a participant asks for a transfer's outcome
	SubjectTransfersPending = "bank.transfers.pending"    // in-flight and in-doubt transfers
	SubjectTransfersResolve = "bank.transfers.resolve"    // drive one stuck transfer to its outcome now
	SubjectPayments         = "bank.payments"             // an operator's payment among up to 16 accounts
	SubjectPaymentStatus    = "bank.payments.status"      // a payment's state by its request id
)

// HistorySubject is where the history of account is asked: op is "query" or "statement".
func HistorySubject(account, op string) string { return "bank.history." + account + "." + op }

// TransferSubject is where a client asks to pay from account from: bank.transfer.<from>.
func TransferSubject(from string) string { return "bank.transfer." + from }

// TransferStatusSubject answers the state of a transfer paid from account from.
func TransferStatusSubject(from string) string { return "bank.transfer." + from + ".status" }

// TransferRefundSubject is where the payee of a committed transfer, account payee, asks to
// refund it: bank.transfer.<payee>.refund.
func TransferRefundSubject(payee string) string { return "bank.transfer." + payee + ".refund" }

// AccountSubject is where a client sends op for account id: bank.account.<id>.<op>.
// Any node may receive it; it reaches the owning node.
func AccountSubject(id, op string) string { return fmt.Sprintf("bank.account.%s.%s", id, op) }

// NodeAccountSubject is where a node forwards op for account id to its owner.
func NodeAccountSubject(node, id, op string) string {
	return fmt.Sprintf("bank.node.%s.account.%s.%s", node, id, op)
}

// NodeLegsSubject is where the coordinator sends a LegBatch for accounts of node.
func NodeLegsSubject(node string) string { return fmt.Sprintf("bank.node.%s.legs", node) }

// NodeListSubject lists the accounts of one node.
func NodeListSubject(node string) string { return fmt.Sprintf("bank.node.%s.accounts.list", node) }

// EventSubject is where customers receive the event of type typ on account:
// bank.events.<account>.<type>. The events stream re-publishes each event it stores there; nodes
// published there directly before OutboxSubject existed, so the stream still holds such messages.
func EventSubject(account, typ string) string { return fmt.Sprintf("bank.events.%s.%s", account, typ) }

// OutboxSubject is where node publishes the event of type typ on account:
// bank.outbox.<node>.<account>.<type>. The publishing node is in the subject so that NATS
// permissions can confine each node's user to its own events, and the history can check that an
// event's node published it.
func OutboxSubject(node, account, typ string) string {
	return fmt.Sprintf("bank.outbox.%s.%s.%s", node, account, typ)
}

// ParseOutboxSubject splits bank.outbox.<node>.<account>.<type>; ok is false for any other subject.
func ParseOutboxSubject(subject string) (node, account, typ string, ok bool) {
	t := strings.Split(subject, ".")
	if len(t) != 5 || t[0] != "bank" || t[1] != "outbox" {
		return "", "", "", false
	}
	return t[2], t[3], t[4], true
}

package contract

import "fmt"

// Names of the JetStream assets the services share.
const (
	// EventsStream holds every balance-change event, published by the account nodes' outbox relays.
	EventsStream = "TSBANK_EVENTS"
	// AccountsBucket is the global registry: key = account id, value = the owning node's name.
	AccountsBucket = "tsbank_accounts"
	// NodesBucket holds one key per live account node, refreshed by a heartbeat and expired by TTL.
	NodesBucket = "tsbank_nodes"
)

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
)

// Subjects of requests that name no account.
const (
	SubjectOpenGenerated = "bank.accounts.open" // open an account whose id the system derives
	SubjectListAccounts  = "bank.accounts.list" // list accounts of one node or of all nodes
	SubjectListNodes     = "bank.nodes.list"    // list the live account nodes
	EventsSubjects       = "bank.events.>"      // every event, for the stream and for `nats sub`
)

// AccountSubject is where a client sends op for account id: bank.account.<id>.<op>.
// Any node may receive it; it reaches the owning node.
func AccountSubject(id, op string) string { return fmt.Sprintf("bank.account.%s.%s", id, op) }

// NodeAccountSubject is where a node forwards op for account id to its owner.
func NodeAccountSubject(node, id, op string) string {
	return fmt.Sprintf("bank.node.%s.account.%s.%s", node, id, op)
}

// NodeListSubject lists the accounts of one node.
func NodeListSubject(node string) string { return fmt.Sprintf("bank.node.%s.accounts.list", node) }

// EventSubject is where the event of type typ on account is published: bank.events.<account>.<type>.
func EventSubject(account, typ string) string { return fmt.Sprintf("bank.events.%s.%s", account, typ) }

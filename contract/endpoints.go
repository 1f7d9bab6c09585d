package contract

import (
	"fmt"
	"strings"
)

// Role is an identity that talks to the bank: a customer, the operator, or one of its services.
// Every NATS user has exactly one role, and its permissions come from the endpoint table below.
type Role string

const (
	RoleCustomer    Role = "customer"    // a bank customer, in the CUSTOMERS account: only their own accounts
	RoleOperator    Role = "operator"    // a teller or administrator, in the BANK account: everything
	RoleNode        Role = "node"        // an account node (one NATS user per node)
	RoleCoordinator Role = "coordinator" // the transfer coordinator
	RoleHistory     Role = "history"     // the history service
	RoleCustomers   Role = "customers"   // the auth service's operator endpoints (customer records)
	RoleObserver    Role = "observer"    // the Observer: reads the bank's state for its page, changes nothing
)

// Endpoint is one request subject: its name (the micro endpoint's, and the `endpoint` label of the
// request metrics), who serves it and who may call it. Subject is a pattern whose tokens
// {account}, {node} and {customer} stand for one subject token each.
type Endpoint struct {
	Name     string
	Subject  string
	ServedBy Role
	Callers  []Role
	// Fanout: every instance of the serving role receives each request (no queue group), and the
	// one it concerns answers: a money request reaches the owning node without being forwarded.
	Fanout bool
}

var (
	customerOperator = []Role{RoleCustomer, RoleOperator}
	operator         = []Role{RoleOperator}
)

// Endpoints is every request subject of the bank, the one table from which the subjects the
// services serve (platform/service.Register), the parsing of a request's subject (Tokens), the NATS
// permissions of each identity (deploy/nats/nats.conf, the customers' permissions issued at
// login) and the exports to customers are derived: an endpoint added here without callers is
// reachable by no one, and a service cannot serve one that is not here.
var Endpoints = []Endpoint{
	{"open", AccountSubject("{account}", OpOpen), RoleNode, customerOperator, false},
	// The coordinator reads an account's currency with get, once per account, to refuse a transfer
	// that cannot fit it before logging it.
	{"get", AccountSubject("{account}", OpGet), RoleNode, []Role{RoleCustomer, RoleOperator, RoleHistory, RoleCoordinator}, false},
	{"balance", AccountSubject("{account}", OpBalance), RoleNode, []Role{RoleCustomer, RoleOperator, RoleHistory}, false},
	// Money requests are answered by the owner alone, never forwarded (docs/adr/0021). Money
	// comes in through a teller (the operator), never by a customer's own word.
	{"deposit", AccountSubject("{account}", OpDeposit), RoleNode, operator, true},
	{"withdraw", AccountSubject("{account}", OpWithdraw), RoleNode, customerOperator, true},
	{"close", AccountSubject("{account}", OpClose), RoleNode, customerOperator, true},
	{"limit", AccountSubject("{account}", OpLimit), RoleNode, operator, true},
	{"whereis", AccountSubject("{account}", OpWhereis), RoleNode, []Role{RoleOperator, RoleCoordinator}, false},
	{"open_generated", SubjectOpenGenerated, RoleNode, operator, false},
	{"list", SubjectListAccounts, RoleNode, []Role{RoleOperator, RoleHistory, RoleObserver}, false},
	// The coordinator checks that both nodes of a move run before it logs the move.
	{"nodes", SubjectListNodes, RoleNode, []Role{RoleOperator, RoleCoordinator, RoleObserver}, false},
	// A node forwards a read or an open for an account it does not own to the owner.
	{"node_open", NodeAccountSubject("{node}", "{account}", OpOpen), RoleNode, []Role{RoleNode}, false},
	{"node_get", NodeAccountSubject("{node}", "{account}", OpGet), RoleNode, []Role{RoleNode}, false},
	{"node_balance", NodeAccountSubject("{node}", "{account}", OpBalance), RoleNode, []Role{RoleNode}, false},
	{"node_list", NodeListSubject("{node}"), RoleNode, []Role{RoleNode, RoleOperator}, false},
	// Two-phase commit: only the coordinator, and every message signed (docs/adr/0019).
	{"node_prepare", NodeAccountSubject("{node}", "{account}", OpPrepare), RoleNode, []Role{RoleCoordinator}, false},
	{"node_commit", NodeAccountSubject("{node}", "{account}", OpCommit), RoleNode, []Role{RoleCoordinator}, false},
	{"node_abort", NodeAccountSubject("{node}", "{account}", OpAbort), RoleNode, []Role{RoleCoordinator}, false},
	// Many steps of many legs in one message and one transaction (docs/adr/0024).
	{"node_legs", NodeLegsSubject("{node}"), RoleNode, []Role{RoleCoordinator}, false},

	{"transfer", TransferSubject("{account}"), RoleCoordinator, customerOperator, false},
	{"status", TransferStatusSubject("{account}"), RoleCoordinator, customerOperator, false},
	// A refund is asked by the account that was paid: a merchant refunds its customer.
	{"refund", TransferRefundSubject("{account}"), RoleCoordinator, customerOperator, false},
	// A payment moves money among up to 16 accounts at once (a payroll, a bill split): an
	// operator's operation, since it debits accounts that are not the caller's.
	{"payment", SubjectPayments, RoleCoordinator, operator, false},
	{"payment_status", SubjectPaymentStatus, RoleCoordinator, operator, false},
	// Moving an account to another node: operators only (docs/adr/0036); the coordinator drives
	// the move through both nodes, signing each step.
	{"move", SubjectMoves, RoleCoordinator, operator, false},
	{"move_status", SubjectMoveStatus, RoleCoordinator, operator, false},
	{"node_move", NodeMoveSubject("{node}"), RoleNode, []Role{RoleCoordinator}, false},
	// Exchange rates are the bank's to set; a customer quotes for their own account and pays
	// with the quote through "transfer" (docs/adr/0035).
	{"rates_set", SubjectRatesSet, RoleCoordinator, operator, false},
	{"rates", SubjectRates, RoleCoordinator, operator, false},
	{"quote", QuoteSubject("{account}"), RoleCoordinator, customerOperator, false},
	{"pending", SubjectTransfersPending, RoleCoordinator, []Role{RoleOperator, RoleObserver}, false},
	{"resolve", SubjectTransfersResolve, RoleCoordinator, operator, false},
	{"decision", SubjectDecision, RoleCoordinator, []Role{RoleNode}, false},

	{"query", HistorySubject("{account}", "query"), RoleHistory, customerOperator, false},
	{"statement", HistorySubject("{account}", "statement"), RoleHistory, customerOperator, false},
	{"balance_at", HistorySubject("{account}", "balance_at"), RoleHistory, customerOperator, false},
	{"reconcile", SubjectReconcile, RoleHistory, operator, false},

	// The Observer's view of the whole bank, as JSON (docs/adr/0041).
	{"overview", SubjectOverview, RoleObserver, operator, false},

	{"add", SubjectCustomersAdd, RoleCustomers, operator, false},
	{"grant", SubjectCustomersGrant, RoleCustomers, operator, false},
	{"revoke", SubjectCustomersRevoke, RoleCustomers, operator, false},
	{"password", SubjectCustomersPassword, RoleCustomers, operator, false},
	{"disable", SubjectCustomersDisable, RoleCustomers, operator, false},
	{"get", SubjectCustomersGet, RoleCustomers, operator, false},
	{"list", SubjectCustomersList, RoleCustomers, operator, false},
	{"accounts", CustomerAccountsSubject("{customer}"), RoleCustomers, customerOperator, false},
}

// Tokens finds the endpoint whose pattern subject matches and returns it with the values of its
// tokens ({account}, {node}, {customer}); ok is false for a subject of no endpoint. Handlers read
// a request's account from here rather than counting dots themselves.
func Tokens(subject string) (e Endpoint, values map[string]string, ok bool) {
	parts := strings.Split(subject, ".")
	for _, e := range Endpoints {
		pattern := strings.Split(e.Subject, ".")
		if len(pattern) != len(parts) {
			continue
		}
		values = map[string]string{}
		for i, p := range pattern {
			if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
				values[p[1:len(p)-1]] = parts[i]
			} else if p != parts[i] {
				values = nil
				break
			}
		}
		if values != nil {
			return e, values, true
		}
	}
	return Endpoint{}, nil, false
}

// Token is the value of token name ("account", "node" or "customer") in subject, or "" when the
// subject is no endpoint's or has no such token.
func Token(subject, name string) string {
	_, values, _ := Tokens(subject)
	return values[name]
}

// CustomerEvents is the subject pattern of the events a customer may follow, one account's.
const CustomerEvents = "bank.events.{account}.>"

// Wildcard is the pattern with every token replaced by NATS's one-token wildcard.
func Wildcard(pattern string) string {
	return Bind(pattern, map[string]string{"account": "*", "node": "*", "customer": "*"})
}

// Bind replaces the tokens of pattern named in values; others stay as they are.
func Bind(pattern string, values map[string]string) string {
	parts := strings.Split(pattern, ".")
	for i, p := range parts {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if v, ok := values[p[1:len(p)-1]]; ok {
				parts[i] = v
			}
		}
	}
	return strings.Join(parts, ".")
}

// CalledBy is every endpoint role may call.
func CalledBy(role Role) []Endpoint {
	var out []Endpoint
	for _, e := range Endpoints {
		for _, c := range e.Callers {
			if c == role {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

// ServedBy is every endpoint role serves.
func ServedBy(role Role) []Endpoint {
	var out []Endpoint
	for _, e := range Endpoints {
		if e.ServedBy == role {
			out = append(out, e)
		}
	}
	return out
}

// CustomerPermissions are the exact subjects a customer may publish to and subscribe on: the
// customer-callable endpoints bound to each account they own and to their own id, their own
// inbox, and their accounts' events. Nothing with a wildcard is ever granted for an account.
func CustomerPermissions(customer string, accounts []string) (publish, subscribe []string, err error) {
	if e := CheckID("customer", customer); e != nil {
		return nil, nil, fmt.Errorf("%s", e.Message)
	}
	for _, a := range accounts {
		if e := CheckID("account", a); e != nil {
			return nil, nil, fmt.Errorf("%s", e.Message)
		}
	}
	for _, e := range CalledBy(RoleCustomer) {
		switch {
		case strings.Contains(e.Subject, "{account}"):
			for _, a := range accounts {
				publish = append(publish, Bind(e.Subject, map[string]string{"account": a}))
			}
		case strings.Contains(e.Subject, "{customer}"):
			publish = append(publish, Bind(e.Subject, map[string]string{"customer": customer}))
		default:
			publish = append(publish, e.Subject)
		}
	}
	subscribe = []string{CustomerInboxPrefix(customer) + ".>"}
	for _, a := range accounts {
		subscribe = append(subscribe, Bind(CustomerEvents, map[string]string{"account": a}))
	}
	return publish, subscribe, nil
}

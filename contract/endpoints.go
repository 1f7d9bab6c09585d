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
)

// Endpoint is one request subject: who serves it and who may call it. Subject is a pattern whose
// tokens {account}, {node} and {customer} stand for one subject token each.
type Endpoint struct {
	Subject  string
	ServedBy Role
	Callers  []Role
}

// Endpoints is every request subject of the bank, the one table from which the NATS permissions
// of each identity (deploy/nats/nats.conf, the customers' permissions issued at login) are derived
// and tested: an endpoint added here without its callers is reachable by no one.
var Endpoints = []Endpoint{
	{AccountSubject("{account}", OpOpen), RoleNode, []Role{RoleCustomer, RoleOperator}},
	{AccountSubject("{account}", OpGet), RoleNode, []Role{RoleCustomer, RoleOperator, RoleHistory}},
	{AccountSubject("{account}", OpBalance), RoleNode, []Role{RoleCustomer, RoleOperator, RoleHistory}},
	// Money comes in through a teller (the operator), never by a customer's own word.
	{AccountSubject("{account}", OpDeposit), RoleNode, []Role{RoleOperator}},
	{AccountSubject("{account}", OpWithdraw), RoleNode, []Role{RoleCustomer, RoleOperator}},
	{AccountSubject("{account}", OpClose), RoleNode, []Role{RoleCustomer, RoleOperator}},
	{AccountSubject("{account}", OpLimit), RoleNode, []Role{RoleOperator}},
	{AccountSubject("{account}", OpWhereis), RoleNode, []Role{RoleOperator, RoleCoordinator}},
	{SubjectOpenGenerated, RoleNode, []Role{RoleOperator}},
	{SubjectListAccounts, RoleNode, []Role{RoleOperator, RoleHistory}},
	{SubjectListNodes, RoleNode, []Role{RoleOperator}},
	// A node forwards a read or an open for an account it does not own to the owner. Requests
	// that move money or change terms are never forwarded: only the owner answers them.
	{NodeAccountSubject("{node}", "{account}", OpOpen), RoleNode, []Role{RoleNode}},
	{NodeAccountSubject("{node}", "{account}", OpGet), RoleNode, []Role{RoleNode}},
	{NodeAccountSubject("{node}", "{account}", OpBalance), RoleNode, []Role{RoleNode}},
	{NodeListSubject("{node}"), RoleNode, []Role{RoleNode, RoleOperator}},
	// Two-phase commit: only the coordinator, and every message signed (docs/adr/0019).
	{NodeAccountSubject("{node}", "{account}", OpPrepare), RoleNode, []Role{RoleCoordinator}},
	{NodeAccountSubject("{node}", "{account}", OpCommit), RoleNode, []Role{RoleCoordinator}},
	{NodeAccountSubject("{node}", "{account}", OpAbort), RoleNode, []Role{RoleCoordinator}},

	{TransferSubject("{account}"), RoleCoordinator, []Role{RoleCustomer, RoleOperator}},
	{TransferStatusSubject("{account}"), RoleCoordinator, []Role{RoleCustomer, RoleOperator}},
	{SubjectTransfersPending, RoleCoordinator, []Role{RoleOperator}},
	{SubjectTransfersResolve, RoleCoordinator, []Role{RoleOperator}},
	{SubjectDecision, RoleCoordinator, []Role{RoleNode}},

	{HistorySubject("{account}", "query"), RoleHistory, []Role{RoleCustomer, RoleOperator}},
	{HistorySubject("{account}", "statement"), RoleHistory, []Role{RoleCustomer, RoleOperator}},
	{SubjectReconcile, RoleHistory, []Role{RoleOperator}},

	{SubjectCustomersAdd, RoleCustomers, []Role{RoleOperator}},
	{SubjectCustomersGrant, RoleCustomers, []Role{RoleOperator}},
	{SubjectCustomersRevoke, RoleCustomers, []Role{RoleOperator}},
	{SubjectCustomersPassword, RoleCustomers, []Role{RoleOperator}},
	{SubjectCustomersDisable, RoleCustomers, []Role{RoleOperator}},
	{SubjectCustomersGet, RoleCustomers, []Role{RoleOperator}},
	{SubjectCustomersList, RoleCustomers, []Role{RoleOperator}},
	{CustomerAccountsSubject("{customer}"), RoleCustomers, []Role{RoleCustomer, RoleOperator}},
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

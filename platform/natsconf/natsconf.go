// Package natsconf renders TSBank's NATS server configuration (deploy/nats/nats.conf) from the
// endpoint table in contract, so that every identity's permissions come from the same list of
// subjects as the client and the services (docs/adr/0021):
//
//   - account BANK holds the services, each with its own user and only the subjects its role
//     serves and calls, and the operator; it exports the customer-facing endpoints as services
//     and the customer-facing events as a stream;
//   - account CUSTOMERS imports them and holds no user of its own: customers are placed in it at
//     login by the auth service (auth callout), each with the subjects of the accounts they own.
//     A request that crosses an import gets a reply subject made by the server (`_R_.…`), so a
//     customer can never make a service answer into anything inside the bank;
//   - account AUTH holds the auth service's callout user, and SYS the system user.
//
// Passwords, and the public key the callout's answers are signed with, stay variables resolved
// from the server's environment.
package natsconf

import (
	"fmt"
	"slices"
	"strings"

	"tsbank/contract"
)

// Options name the deployment's account nodes.
type Options struct {
	Nodes []string // e.g. account-1, account-2: one NATS user each
}

// Account names.
const (
	BankAccount      = "BANK"
	CustomersAccount = "CUSTOMERS"
	AuthAccount      = "AUTH"
	SystemAccount    = "SYS"
)

// User names of the identities that are not per node.
const (
	UserCoordinator = "coordinator"
	UserHistory     = "history"
	UserCustomers   = "customers" // the auth service's connection in BANK, serving bank.customers.*
	UserObserver    = "observer"  // the Observer: reads, for its page and bank.overview
	UserOperator    = "operator"
	UserAuth        = "auth" // the auth service's callout connection, in AUTH
	UserSystem      = "system"
)

// AuthCalloutSubject is where the server asks the auth service about a login.
const AuthCalloutSubject = "$SYS.REQ.USER.AUTH"

// PasswordVar is the environment variable that holds user's password: ACCOUNT_1_PASSWORD for
// user account-1.
func PasswordVar(user string) string {
	return strings.ToUpper(strings.ReplaceAll(user, "-", "_")) + "_PASSWORD"
}

// Permissions of one user: subjects it may publish to and subscribe on.
type Permissions struct {
	Publish, Subscribe []string
}

// kv is the subject of key in bucket; js is a JetStream API subject.
func kv(bucket, key string) string { return "$KV." + bucket + "." + key }
func js(api string) string         { return "$JS.API." + api }

// streamInfo and directGet are the read-only JetStream API calls a bucket's client makes to
// bind it and to read a key.
func streamInfo(stream string) string { return js("STREAM.INFO." + stream) }
func directGet(stream string) string  { return js("DIRECT.GET." + stream + ".>") }

// ServicePermissions are the permissions of a service user: the endpoints its role serves (a node's
// own subjects bound to its name) and calls, its own inbox, `$SRV.>` for `nats micro`, and the
// JetStream subjects it needs to use, never to manage, the assets the provisioning step made.
func ServicePermissions(role contract.Role, user string) Permissions {
	var p Permissions
	bind := func(pattern string) string {
		if role == contract.RoleNode {
			pattern = contract.Bind(pattern, map[string]string{"node": user})
		}
		return contract.Wildcard(pattern)
	}
	for _, e := range contract.ServedBy(role) {
		p.Subscribe = append(p.Subscribe, bind(e.Subject))
	}
	for _, e := range contract.CalledBy(role) {
		p.Publish = append(p.Publish, contract.Wildcard(e.Subject))
	}
	p.Subscribe = append(p.Subscribe, "$SRV.>", "_INBOX_"+user+".>")
	accounts, nodes, leases, moves := "KV_"+contract.AccountsBucket, "KV_"+contract.NodesBucket, "KV_"+contract.LeasesBucket, "KV_"+contract.MovesBucket
	switch role {
	case contract.RoleNode:
		p.Publish = append(p.Publish,
			// Its own events only (the history checks the node in the subject).
			contract.OutboxSubject(user, "*", "*"),
			// Registry entries, which the bucket accepts once per key; its own heartbeat and lease.
			kv(contract.AccountsBucket, "*"), kv(contract.AccountsBucket, contract.KnownNodeKey(user)), kv(contract.NodesBucket, user), kv(contract.LeasesBucket, user),
			js("INFO"), streamInfo(contract.EventsStream), streamInfo(accounts), streamInfo(nodes), streamInfo(leases), streamInfo(moves),
			directGet(accounts), directGet(nodes), directGet(leases), directGet(moves))
	case contract.RoleCoordinator:
		p.Publish = append(p.Publish,
			// Where accounts live: it reads the registry and writes the placements of the accounts
			// it moves (docs/adr/0036).
			js("INFO"), streamInfo(accounts), directGet(accounts), streamInfo(moves), directGet(moves), kv(contract.MovesBucket, "*"))
	case contract.RoleObserver:
		c := contract.EventsStream + "." + contract.HistoryConsumer
		p.Publish = append(p.Publish,
			// Every service's `nats micro stats`, the known nodes, the history's lag.
			"$SRV.STATS", "$SRV.STATS.>", js("INFO"), streamInfo(accounts), js("CONSUMER.INFO."+c))
	case contract.RoleHistory:
		c := contract.EventsStream + "." + contract.HistoryConsumer
		p.Publish = append(p.Publish,
			js("INFO"), js("CONSUMER.INFO."+c), js("CONSUMER.MSG.NEXT."+c), "$JS.ACK."+c+".>",
			streamInfo(accounts), directGet(accounts), streamInfo(moves), directGet(moves),
			// The bank's counters, which it keeps as it ingests (increments only: a counter
			// stream refuses any other message).
			contract.CountersSubjects)
	}
	slices.Sort(p.Publish)
	slices.Sort(p.Subscribe)
	p.Publish, p.Subscribe = slices.Compact(p.Publish), slices.Compact(p.Subscribe)
	return p
}

// Exports are the subjects BANK offers CUSTOMERS: every endpoint a customer may call (as a
// service) and the customer-facing events (as a stream).
func Exports() (services []string, streams []string) {
	for _, e := range contract.CalledBy(contract.RoleCustomer) {
		services = append(services, contract.Wildcard(e.Subject))
	}
	return services, []string{contract.EventSubject("*", "*")}
}

// Render returns the configuration file.
func Render(o Options) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w(`# TSBank's NATS server configuration (docker-compose.yml mounts it at /etc/nats/nats.conf).
# GENERATED from the endpoint table (contract/endpoints.go) by
#   go run ./cmd/tsbankctl nats-config > deploy/nats/nats.conf
# and checked by a test: do not edit it by hand. See docs/adr/0021 for the design.
# Passwords and the auth callout's public key come from the server's environment.

listen: 0.0.0.0:4222
# Monitoring: docker-compose.yml publishes it on the host's loopback only.
http: 0.0.0.0:8222
server_name: tsbank-nats

jetstream {
  store_dir: /data
  # fsync after every write: with the default (every two minutes) an independent analysis of
  # NATS 2.12.1 lost acknowledged writes on power loss.
  sync_interval: always
}

system_account: %s

accounts {
`, SystemAccount)
	// BANK: the services, each with its role's permissions, and the operator.
	w("  # The bank: its services (one user per identity, least privilege) and the operator.\n")
	w("  %s {\n    jetstream: enabled\n    users: [\n", BankAccount)
	user := func(name string, role contract.Role, comment string) {
		p := ServicePermissions(role, name)
		w("      # %s\n", comment)
		w("      {\n        user: %q, password: $%s\n", name, PasswordVar(name))
		w("        permissions: {\n")
		w("          publish: %s\n", list(p.Publish, 12))
		w("          subscribe: %s\n", list(p.Subscribe, 12))
		w("          # It may answer the requests it receives; it answers only inboxes (platform/service).\n")
		w("          allow_responses: true\n        }\n      }\n")
	}
	for _, n := range o.Nodes {
		user(n, contract.RoleNode, "Account node "+n+": its own subjects, forwarding to other nodes, its own events, lease and heartbeat.")
	}
	user(UserCoordinator, contract.RoleCoordinator, "The coordinator: transfers in, the two-phase commit out to the nodes (signed).")
	user(UserHistory, contract.RoleHistory, "The history: its consumer on the events stream, registry reads, read-only questions to the nodes.")
	user(UserCustomers, contract.RoleCustomers, "The auth service's operator endpoints: customer records.")
	user(UserObserver, contract.RoleObserver, "The Observer: reads the nodes, leases, stats, pending transfers and the history's lag; changes nothing.")
	w("      # Operators and tellers: everything in the bank, including `nats micro`, `nats kv`, `nats stream`,\n")
	w("      # and provisioning (tsbankctl migrate). The one identity that may manage streams and buckets.\n")
	w("      { user: %q, password: $%s }\n", UserOperator, PasswordVar(UserOperator))
	w("    ]\n")
	services, streams := Exports()
	w("    # What customers may reach: exactly the endpoints a customer may call, and the events.\n")
	w("    exports: [\n")
	for _, s := range services {
		w("      { service: %q }\n", s)
	}
	for _, s := range streams {
		w("      { stream: %q }\n", s)
	}
	w("    ]\n  }\n\n")

	w("  # Customers: no user is configured here; the auth service places each customer in this account at\n")
	w("  # login, with the subjects of the accounts they own (contract.CustomerPermissions).\n")
	w("  %s {\n    imports: [\n", CustomersAccount)
	for _, s := range services {
		w("      { service: { account: %s, subject: %q } }\n", BankAccount, s)
	}
	for _, s := range streams {
		w("      { stream: { account: %s, subject: %q } }\n", BankAccount, s)
	}
	w("    ]\n  }\n\n")

	w("  # The auth service's callout connection: it answers $SYS.REQ.USER.AUTH and nothing else.\n")
	w("  %s {\n    users: [\n      {\n        user: %q, password: $%s\n", AuthAccount, UserAuth, PasswordVar(UserAuth))
	w("        permissions: { publish: { deny: [\">\"] }, subscribe: [%q], allow_responses: true }\n      }\n    ]\n  }\n\n", AuthCalloutSubject)
	w("  # The system account: server monitoring and events (`nats server ...`), for operators.\n")
	w("  %s {\n    users: [ { user: %q, password: $%s } ]\n  }\n}\n\n", SystemAccount, UserSystem, PasswordVar(UserSystem))

	w(`# Users not configured above (customers) are authenticated by the auth service against the
# customer records in Postgres; the users above keep their passwords and never reach it.
authorization {
  auth_callout {
    issuer: $AUTH_ISSUER_PUBLIC_KEY
    account: %s
    auth_users: [ %q ]
    allowed_accounts: [ %s ]
  }
}
`, AuthAccount, UserAuth, CustomersAccount)
	return b.String()
}

// list writes subjects as a configuration array, one per line, indented by indent.
func list(subjects []string, indent int) string {
	if len(subjects) == 0 {
		return `{ deny: [">"] }`
	}
	pad := strings.Repeat(" ", indent+2)
	var b strings.Builder
	b.WriteString("[\n")
	for _, s := range subjects {
		fmt.Fprintf(&b, "%s%q\n", pad, s)
	}
	b.WriteString(strings.Repeat(" ", indent) + "]")
	return b.String()
}

package e2e

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"tsbank/contract"
	"tsbank/platform/natsconf"
)

// sentinel is a subject no identity with limits may publish to: its refusal, which the server
// sends after those of everything published before it, says that all of them have arrived.
const sentinel = "tsbank.sentinel.denied"

var violation = regexp.MustCompile(`Permissions Violation for Publish to "([^"]+)"`)

// TestEveryIdentityMayCallExactlyItsEndpoints checks the whole endpoint table against the shipped
// configuration, identity by identity: each identity publishes to every endpoint's subject, with
// a reply subject aimed at a lease, and the server refuses exactly those the table does not give
// it. The ones it lets through reach services that answer only inboxes, so afterwards nothing in
// the bank has changed.
func TestEveryIdentityMayCallExactlyItsEndpoints(t *testing.T) {
	sb := startSecureBank(t, nil)
	sb.historyMatchesOutboxes()
	before := sb.state(t)

	roles := map[string]contract.Role{"account-1": contract.RoleNode, "account-2": contract.RoleNode,
		natsconf.UserCoordinator: contract.RoleCoordinator, natsconf.UserHistory: contract.RoleHistory,
		natsconf.UserCustomers: contract.RoleCustomers, natsconf.UserObserver: contract.RoleObserver}
	identities := []string{"alice", "account-1", "account-2", natsconf.UserCoordinator, natsconf.UserHistory,
		natsconf.UserCustomers, natsconf.UserObserver, natsconf.UserOperator, natsconf.UserAuth, natsconf.UserSystem}
	for _, who := range identities {
		t.Run(who, func(t *testing.T) {
			var u *user
			if who == "alice" {
				u = sb.customer("alice")
			} else {
				u = sb.service(who)
			}
			// may tells whether the table lets who publish to subject, e's subject bound to values.
			may := func(e contract.Endpoint, values map[string]string) bool {
				switch who {
				case natsconf.UserOperator, natsconf.UserSystem: // no limits (the system user's account holds nothing of the bank's)
					return true
				case natsconf.UserAuth:
					return false
				case "alice":
					return slices.Contains(e.Callers, contract.RoleCustomer) && values["account"] == "alice" && values["customer"] == "alice"
				}
				return slices.Contains(e.Callers, roles[who])
			}
			var denied []string
			for _, values := range []map[string]string{
				{"account": "alice", "customer": "alice", "node": "account-2"},
				{"account": "bob", "customer": "bob", "node": "account-1"},
			} {
				for _, e := range contract.Endpoints {
					subject := contract.Bind(e.Subject, values)
					if err := u.nc.PublishRequest(subject, "$KV.tsbank_leases.account-2", []byte(`{}`)); err != nil {
						t.Fatal(err)
					}
					if !may(e, values) && !slices.Contains(denied, subject) {
						denied = append(denied, subject)
					}
				}
			}
			if who == natsconf.UserOperator || who == natsconf.UserSystem {
				if err := u.nc.Flush(); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := u.nc.Publish(sentinel, nil); err != nil {
					t.Fatal(err)
				}
				u.wasDenied(t, "Publish", sentinel)
			}
			u.mu.Lock()
			var got []string
			for _, e := range u.denied {
				if m := violation.FindStringSubmatch(e); m != nil && m[1] != sentinel && !slices.Contains(got, m[1]) {
					got = append(got, m[1])
				}
			}
			u.mu.Unlock()
			slices.Sort(got)
			slices.Sort(denied)
			if !slices.Equal(got, denied) {
				t.Errorf("%s was refused\n  %s\nwant\n  %s", who, strings.Join(got, "\n  "), strings.Join(denied, "\n  "))
			}
		})
	}
	sb.unchanged(t, before)
}

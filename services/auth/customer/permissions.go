package customer

import (
	"tsbank/contract"
)

// Permissions are the subjects a logged-in customer may publish to and subscribe to; anything
// else is a permissions violation. There is no response permission: a customer serves nothing.
type Permissions struct {
	Publish   []string
	Subscribe []string
}

// PermissionsOf computes what c may do, from the endpoint table (contract.CustomerPermissions):
// for each account they own, the customer-facing operations (literal subjects, never
// bank.account.<id>.>, so an operation added later is not open to customers until the table
// says so), paying from it and asking about those payments, its history and its events; the
// question of which accounts are theirs; and replies on their own inbox prefix only, so that no
// customer can read another's replies. Ids were checked when the record was written; one that
// is not a valid subject token grants nothing.
func PermissionsOf(c Customer) Permissions {
	pub, sub, err := contract.CustomerPermissions(c.ID, c.Accounts)
	if err != nil {
		return Permissions{}
	}
	return Permissions{Publish: pub, Subscribe: sub}
}

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

// accountOps are the operations a customer may ask of an account they own: literal subjects,
// not bank.account.<id>.>, so that an operation added to the account service later (whereis,
// say, which is for services) is not open to customers until it is listed here.
var accountOps = []string{contract.OpOpen, contract.OpGet, contract.OpBalance, contract.OpDeposit, contract.OpWithdraw, contract.OpClose}

// PermissionsOf computes what c may do: for each account they own, its operations, paying from
// it and asking about those payments, its history and its events; the question of which accounts
// are theirs; and replies on their own inbox prefix only, so that no customer can read another's
// replies.
func PermissionsOf(c Customer) Permissions {
	p := Permissions{
		Subscribe: []string{contract.CustomerInboxPrefix(c.ID) + ".>"},
	}
	for _, a := range c.Accounts {
		for _, op := range accountOps {
			p.Publish = append(p.Publish, contract.AccountSubject(a, op))
		}
		p.Publish = append(p.Publish, contract.TransferSubject(a), contract.TransferStatusSubject(a),
			contract.HistorySubject(a, "query"), contract.HistorySubject(a, "statement"))
		p.Subscribe = append(p.Subscribe, contract.EventSubject(a, ">"))
	}
	p.Publish = append(p.Publish, contract.CustomerAccountsSubject(c.ID))
	return p
}

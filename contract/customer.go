package contract

import "time"

// Subjects of the customer directory, served by the auth service. The operator's subjects
// (bank.customers.…) are for BANK users only; bank.customer.<id>.accounts is exported to the
// CUSTOMERS account, and the customer id in the subject lets permissions confine a customer to
// their own entry.
const (
	SubjectCustomersAdd      = "bank.customers.add"      // add a customer with a password and accounts
	SubjectCustomersGrant    = "bank.customers.grant"    // give a customer one more account
	SubjectCustomersRevoke   = "bank.customers.revoke"   // take an account from a customer
	SubjectCustomersPassword = "bank.customers.password" // set a customer's password
	SubjectCustomersDisable  = "bank.customers.disable"  // refuse the customer's next logins
	SubjectCustomersGet      = "bank.customers.get"      // one customer: accounts and state
	SubjectCustomersList     = "bank.customers.list"     // every customer
)

// CustomerAccountsSubject is where customer asks which accounts are theirs.
func CustomerAccountsSubject(customer string) string {
	return "bank.customer." + customer + ".accounts"
}

// CustomerInboxPrefix is the inbox prefix a customer's client must use (nats.CustomInboxPrefix,
// the CLI's --inbox-prefix): a customer may subscribe to their own replies only.
func CustomerInboxPrefix(customer string) string { return "_INBOX_" + customer }

// Password lengths. Twelve characters is the floor for a secret a person types; bcrypt reads
// only the first 72 bytes, so a longer password would silently be cut, and is refused instead.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 72
)

// AddCustomerRequest adds a customer. ID is the request id: sending the same request again
// answers the customer it made; the same id with another body is a conflict.
type AddCustomerRequest struct {
	ID       string   `json:"id"`
	Customer string   `json:"customer"`
	Password string   `json:"password"`
	Accounts []string `json:"accounts"`
}

// CustomerAccountRequest grants or revokes one account of a customer.
type CustomerAccountRequest struct {
	Customer string `json:"customer"`
	Account  string `json:"account"`
}

// CustomerPasswordRequest sets a customer's password.
type CustomerPasswordRequest struct {
	Customer string `json:"customer"`
	Password string `json:"password"`
}

// CustomerRequest names one customer (get, disable).
type CustomerRequest struct {
	Customer string `json:"customer"`
}

// Customer is a customer as operators see it; the password hash never leaves the auth service.
// A change (accounts, password, disabled) applies at the customer's next connection: a
// connection already open keeps the permissions it logged in with.
type Customer struct {
	Customer  string    `json:"customer"`
	Accounts  []string  `json:"accounts"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
}

// CustomerList is every customer, by id.
type CustomerList struct {
	Customers []Customer `json:"customers"`
}

// CustomerAccounts answers bank.customer.<id>.accounts: the accounts the customer owns.
type CustomerAccounts struct {
	Customer string   `json:"customer"`
	Accounts []string `json:"accounts"`
}

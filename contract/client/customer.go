package client

import (
	"context"

	"tsbank/contract"
)

// AddCustomer adds a customer with a password and accounts.
func (c *Client) AddCustomer(ctx context.Context, req contract.AddCustomerRequest) (contract.Customer, error) {
	var r contract.Customer
	return r, c.Call(ctx, contract.SubjectCustomersAdd, req, &r)
}

// GrantAccount gives customer one more account; granting it again changes nothing.
func (c *Client) GrantAccount(ctx context.Context, customer, account string) (contract.Customer, error) {
	var r contract.Customer
	return r, c.Call(ctx, contract.SubjectCustomersGrant, contract.CustomerAccountRequest{Customer: customer, Account: account}, &r)
}

// RevokeAccount takes account from customer.
func (c *Client) RevokeAccount(ctx context.Context, customer, account string) (contract.Customer, error) {
	var r contract.Customer
	return r, c.Call(ctx, contract.SubjectCustomersRevoke, contract.CustomerAccountRequest{Customer: customer, Account: account}, &r)
}

// SetPassword sets customer's password.
func (c *Client) SetPassword(ctx context.Context, customer, password string) (contract.Customer, error) {
	var r contract.Customer
	return r, c.Call(ctx, contract.SubjectCustomersPassword, contract.CustomerPasswordRequest{Customer: customer, Password: password}, &r)
}

// DisableCustomer refuses customer's next logins.
func (c *Client) DisableCustomer(ctx context.Context, customer string) (contract.Customer, error) {
	var r contract.Customer
	return r, c.Call(ctx, contract.SubjectCustomersDisable, contract.CustomerRequest{Customer: customer}, &r)
}

// Customer returns one customer.
func (c *Client) Customer(ctx context.Context, customer string) (contract.Customer, error) {
	var r contract.Customer
	return r, c.Call(ctx, contract.SubjectCustomersGet, contract.CustomerRequest{Customer: customer}, &r)
}

// Customers lists every customer.
func (c *Client) Customers(ctx context.Context) (contract.CustomerList, error) {
	var r contract.CustomerList
	return r, c.Call(ctx, contract.SubjectCustomersList, nil, &r)
}

// MyAccounts asks, as customer, which accounts are theirs.
func (c *Client) MyAccounts(ctx context.Context, customer string) (contract.CustomerAccounts, error) {
	var r contract.CustomerAccounts
	return r, c.Call(ctx, contract.CustomerAccountsSubject(customer), nil, &r)
}

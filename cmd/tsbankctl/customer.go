package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nkeys"

	"tsbank/contract"
	"tsbank/contract/client"
)

// customerCmd runs `tsbankctl customer add <customer> <account>...` and `tsbankctl customer grant
// <customer> <account>` against the auth service's bank.customers.* (as a BANK user with the right
// to call them). Either takes effect at the customer's next connection.
func customerCmd(args []string, out io.Writer) error {
	const usage = "usage: tsbankctl customer add <customer> <account>... | tsbankctl customer grant <customer> <account>"
	if len(args) < 3 || (args[0] == "grant" && len(args) != 3) {
		return errors.New(usage)
	}
	nc, err := connect("tsbankctl-customer")
	if err != nil {
		return err
	}
	defer nc.Close()
	c := client.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id := args[1]
	switch args[0] {
	case "add":
		password, generated := os.Getenv("CUSTOMER_PASSWORD"), false
		if password == "" {
			// rand.Text is 26 base32 characters, 130 bits: no one guesses it.
			password, generated = rand.Text(), true
		}
		// The request id is the customer's, so running the same command again answers the
		// customer it made instead of failing (with the same CUSTOMER_PASSWORD).
		cu, err := c.AddCustomer(ctx, contract.AddCustomerRequest{ID: "tsbankctl-add-" + id, Customer: id, Password: password, Accounts: args[2:]})
		if err != nil {
			return fmt.Errorf("add customer %s: %w", id, err)
		}
		fmt.Fprintf(out, "customer %s added with accounts %s\n", cu.Customer, strings.Join(cu.Accounts, ", "))
		if generated {
			fmt.Fprintf(out, "password (shown once): %s\n", password)
		}
		return nil
	case "grant":
		cu, err := c.GrantAccount(ctx, id, args[2])
		if err != nil {
			return fmt.Errorf("grant %s to %s: %w", args[2], id, err)
		}
		fmt.Fprintf(out, "customer %s has accounts %s (from their next login)\n", cu.Customer, strings.Join(cu.Accounts, ", "))
		return nil
	}
	return errors.New(usage)
}

// keygenAccount prints a fresh account nkey: the seed for the auth service, the public key for
// nats.conf's auth_callout issuer.
func keygenAccount(out io.Writer) error {
	kp, err := nkeys.CreateAccount()
	if err != nil {
		return fmt.Errorf("create account key: %w", err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return err
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "AUTH_ISSUER_SEED=%s\nAUTH_ISSUER_PUBLIC_KEY=%s\n", seed, pub)
	return nil
}

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/testkit"
)

// TestAccountBalancesListsAccountsWithNoEvents pins issue 12's SQL view that left out accounts
// with no events: carol, opened and never used, was not in account_balances, and dave, closed
// unused, neither. The history copies the nodes' list of accounts every ACCOUNTS_SYNC, so both are
// there at 0.00 with no as_of, beside alice's balance from her events, and dave's row says closed.
func TestAccountBalancesListsAccountsWithNoEvents(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	b.env["ACCOUNTS_SYNC"] = "200ms"
	b.startHistory()
	b.open("alice", "account-1", "EUR")
	b.open("carol", "account-2", "EUR")
	b.open("dave", "account-1", "JPY")
	b.deposit("alice", "12.50")
	if _, err := b.c.Close(ctx(t), "dave", contract.CloseRequest{ID: "c-1"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"alice": "EUR 12.50 dated", "carol": "EUR 0.00 NULL", "dave": "JPY 0 NULL"}
	testkit.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		rows, err := b.pool("history").Query(context.Background(), `SELECT b.account, b.currency, b.balance::text,
				CASE WHEN b.as_of IS NULL THEN 'NULL' ELSE 'dated' END, coalesce(a.status, '')
			FROM account_balances b LEFT JOIN accounts a USING (account)`)
		if err != nil {
			return err
		}
		defer rows.Close()
		got := map[string]string{}
		for rows.Next() {
			var account, currency, balance, asOf, status string
			if err := rows.Scan(&account, &currency, &balance, &asOf, &status); err != nil {
				return err
			}
			got[account] = fmt.Sprintf("%s %s %s", currency, balance, asOf)
			if account == "dave" && status != "closed" {
				return fmt.Errorf("dave is %q in accounts, want closed", status)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("account_balances = %v, want %v", got, want)
		}
		return nil
	})
}

package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tsbank/contract"
	"tsbank/contract/client"
)

// TestBadInputIsRefusedAndChangesNothing sends every kind of bad request, first as raw bytes (the
// way `nats req` sends them) and then, where the typed client can express it, through the client.
// Each gets its code and a message, and afterwards balances and the outbox are as before.
func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	t.Parallel()
	b := startNodes(t)
	b.open(t, "alice", "account-1")
	b.deposit(t, "alice", "d-0", "10.00")
	if _, err := b.c.Open(ctx(t), "yen", contract.OpenRequest{ID: "o-1", Currency: "JPY", Node: "account-2"}); err != nil {
		t.Fatal(err)
	}
	b.open(t, "shut", "account-2")
	if _, err := b.c.Close(ctx(t), "shut", contract.CloseRequest{ID: "c-1"}); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 65)
	deposit := func(body string) (string, string) { return contract.AccountSubject("alice", "deposit"), body }
	cases := []struct {
		name          string
		subject, body string
		typed         func() error // nil when the typed client cannot send it
		code          contract.Code
	}{
		{"malformed JSON", "", `{"id":"x",`, nil, contract.CodeBadRequest},
		{"not an object", "", `[1,2]`, nil, contract.CodeBadRequest},
		{"unknown field", "", `{"id":"x","amount":"1.00","amt":"1"}`, nil, contract.CodeBadRequest},
		{"two objects", "", `{"id":"x","amount":"1.00"}{}`, nil, contract.CodeBadRequest},
		{"amount as a number", "", `{"id":"x","amount":1.5}`, nil, contract.CodeBadRequest},
		{"missing id", "", `{"amount":"1.00"}`, func() error { return b.move("alice", "", "1.00") }, contract.CodeInvalidID},
		{"id with a dot", "", `{"id":"a.b","amount":"1.00"}`, func() error { return b.move("alice", "a.b", "1.00") }, contract.CodeInvalidID},
		{"id with a space", "", `{"id":"a b","amount":"1.00"}`, func() error { return b.move("alice", "a b", "1.00") }, contract.CodeInvalidID},
		{"id over 64 bytes", "", `{"id":"` + long + `","amount":"1.00"}`, func() error { return b.move("alice", long, "1.00") }, contract.CodeInvalidID},
		{"missing amount", "", `{"id":"x"}`, func() error { return b.move("alice", "x", "") }, contract.CodeInvalidAmount},
		{"zero amount", "", `{"id":"x","amount":"0.00"}`, func() error { return b.move("alice", "x", "0.00") }, contract.CodeInvalidAmount},
		{"negative amount", "", `{"id":"x","amount":"-1.00"}`, func() error { return b.move("alice", "x", "-1.00") }, contract.CodeInvalidAmount},
		{"float notation", "", `{"id":"x","amount":"1e2"}`, func() error { return b.move("alice", "x", "1e2") }, contract.CodeInvalidAmount},
		{"over-precise amount", "", `{"id":"x","amount":"1.001"}`, func() error { return b.move("alice", "x", "1.001") }, contract.CodeInvalidAmount},
		{"decimals for a currency without", contract.AccountSubject("yen", "deposit"), `{"id":"x","amount":"1.5"}`, nil, contract.CodeInvalidAmount},
		{"huge amount", "", `{"id":"x","amount":"99999999999999999999"}`, func() error { return b.move("alice", "x", "99999999999999999999") }, contract.CodeInvalidAmount},
		{"description too long", "", `{"id":"x","amount":"1.00","description":"` + strings.Repeat("d", 201) + `"}`, nil, contract.CodeBadRequest},
		{"description with a newline", "", `{"id":"x","amount":"1.00","description":"a\nb"}`, nil, contract.CodeBadRequest},
		{"payload over the limit", "", `{"id":"x","amount":"1.00","description":"` + strings.Repeat("d", contract.MaxPayload) + `"}`, nil, contract.CodePayloadTooLarge},
		{"unknown account", contract.AccountSubject("nobody", "deposit"), `{"id":"x","amount":"1.00"}`,
			func() error { return b.move("nobody", "x", "1.00") }, contract.CodeAccountNotFound},
		{"account id with bad characters", contract.AccountSubject("al!ce", "deposit"), `{"id":"x","amount":"1.00"}`, nil, contract.CodeInvalidID},
		{"closed account", contract.AccountSubject("shut", "deposit"), `{"id":"x","amount":"1.00"}`,
			func() error { return b.move("shut", "x", "1.00") }, contract.CodeAccountClosed},
		{"unknown currency", contract.AccountSubject("newbie", "open"), `{"id":"x","currency":"XYZ"}`,
			func() error { return b.openWith("newbie", contract.OpenRequest{ID: "x", Currency: "XYZ"}) }, contract.CodeInvalidCurrency},
		{"lower-case currency", contract.AccountSubject("newbie", "open"), `{"id":"x","currency":"eur"}`,
			func() error { return b.openWith("newbie", contract.OpenRequest{ID: "x", Currency: "eur"}) }, contract.CodeInvalidCurrency},
		{"missing currency", contract.AccountSubject("newbie", "open"), `{"id":"x"}`,
			func() error { return b.openWith("newbie", contract.OpenRequest{ID: "x"}) }, contract.CodeInvalidCurrency},
		{"open asking for an overdraft", contract.AccountSubject("newbie", "open"), `{"id":"x","currency":"EUR","overdraft_limit":"50.00"}`,
			nil, contract.CodeBadRequest},
		{"negative overdraft limit", contract.AccountSubject("alice", "limit"), `{"id":"x","overdraft_limit":"-5"}`,
			func() error { return b.setLimit("alice", "x", "-5") }, contract.CodeInvalidAmount},
		{"missing overdraft limit", contract.AccountSubject("alice", "limit"), `{"id":"x"}`,
			func() error { return b.setLimit("alice", "x", "") }, contract.CodeInvalidAmount},
		{"bad node name", contract.AccountSubject("newbie", "open"), `{"id":"x","currency":"EUR","node":"a.b"}`,
			func() error { return b.openWith("newbie", contract.OpenRequest{ID: "x", Currency: "EUR", Node: "a.b"}) }, contract.CodeInvalidID},
		{"body on a read", contract.AccountSubject("alice", "balance"), `{"x":1}`, nil, contract.CodeBadRequest},
	}
	before := b.balance(t, "alice")
	beforeEvents := outboxCount(t, b.dbs["account-1"]) + outboxCount(t, b.dbs["account-2"])
	for _, tc := range cases {
		t.Run(tc.name+" is "+string(tc.code), func(t *testing.T) {
			subject := tc.subject
			if subject == "" {
				subject, _ = deposit(tc.body)
			}
			msg, err := b.nc.Request(subject, []byte(tc.body), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			e := client.ReplyError(msg)
			if e == nil || e.Code != tc.code || e.Message == "" {
				t.Fatalf("raw reply %s %v, want code %s with a message", msg.Data, e, tc.code)
			}
			var body contract.ErrorBody
			if err := json.Unmarshal(msg.Data, &body); err != nil || body.Error == nil || *body.Error != *e {
				t.Fatalf("error body %s does not repeat the headers %v", msg.Data, e)
			}
			if tc.typed != nil {
				wantCode(t, tc.typed(), tc.code)
			}
		})
	}
	if after := b.balance(t, "alice"); after != before {
		t.Fatalf("balance changed from %+v to %+v", before, after)
	}
	if n := outboxCount(t, b.dbs["account-1"]) + outboxCount(t, b.dbs["account-2"]); n != beforeEvents {
		t.Fatalf("outbox grew from %d to %d events", beforeEvents, n)
	}
	if ids := append(accountIDs(t, b.dbs["account-1"]), accountIDs(t, b.dbs["account-2"])...); len(ids) != 3 {
		t.Fatalf("accounts = %v, want alice, shut, yen only", ids)
	}
}

func (b *harness) move(id, reqID, amount string) error {
	_, err := b.c.Deposit(context.Background(), id, contract.MoneyRequest{ID: reqID, Amount: amount})
	return err
}

func (b *harness) setLimit(id, reqID, limit string) error {
	_, err := b.c.SetLimit(context.Background(), id, contract.LimitRequest{ID: reqID, OverdraftLimit: limit})
	return err
}

func (b *harness) openWith(id string, req contract.OpenRequest) error {
	_, err := b.c.Open(context.Background(), id, req)
	return err
}

func outboxCount(t *testing.T, url string) int {
	t.Helper()
	pool, err := pgxpool.New(ctx(t), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n int
	if err := pool.QueryRow(ctx(t), `SELECT count(*) FROM outbox`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

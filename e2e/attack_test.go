package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tsbank/contract"
	"tsbank/contract/decisionsig"
	"tsbank/platform/natsconf"
)

// The attack suite (issue 10): each identity, customer, stolen service credential and operator,
// tries what an attacker would on the shipped configuration. Each attack must be refused, and
// afterwards every balance, hold, registry entry, lease, stream and consumer must be as before,
// both nodes must still serve, and reconciliation must be clean.

// bankState is everything an attack could damage, read by the operator and from the databases.
type bankState map[string]string

func (sb *secureBank) state(t *testing.T) bankState {
	t.Helper()
	st := bankState{}
	q := func(db, key, sql string) {
		var v string
		if err := sb.pool(db).QueryRow(ctx(t), sql).Scan(&v); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		st[key] = v
	}
	for _, n := range nodeNames {
		q(n, n+" accounts", `SELECT coalesce(json_agg(a ORDER BY a.id)::text, '[]') FROM
			(SELECT id, balance, on_hold, pending_in, overdraft_limit, status, event_seq FROM accounts) a`)
		q(n, n+" holds", `SELECT coalesce(json_agg(h ORDER BY h::text)::text, '[]') FROM holds h`)
		q(n, n+" outbox", `SELECT count(*)::text FROM outbox`)
	}
	q("coordinator", "coordinator log", `SELECT count(*)::text FROM transfers`)
	q("history", "history rows", `SELECT count(*)::text FROM transactions`)

	js, err := jetstream.New(sb.nc)
	if err != nil {
		t.Fatal(err)
	}
	var streams []string
	for name := range js.StreamNames(ctx(t)).Name() {
		streams = append(streams, name)
	}
	slices.Sort(streams)
	st["streams"] = fmt.Sprint(streams)
	for _, name := range []string{contract.EventsStream, "KV_" + contract.AccountsBucket, "KV_" + contract.NodesBucket, "KV_" + contract.LeasesBucket} {
		s, err := js.Stream(ctx(t), name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		cfg, _ := json.Marshal(s.CachedInfo().Config)
		st["stream "+name] = string(cfg)
	}
	events, _ := js.Stream(ctx(t), contract.EventsStream)
	st["events stored"] = fmt.Sprint(events.CachedInfo().State.Msgs)
	c, err := js.Consumer(ctx(t), contract.EventsStream, contract.HistoryConsumer)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	cfg, _ := json.Marshal(c.CachedInfo().Config)
	st["consumer"] = string(cfg)
	for _, b := range []string{contract.AccountsBucket, contract.LeasesBucket} {
		kv, err := js.KeyValue(ctx(t), b)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := kv.ListKeys(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		for k := range keys.Keys() {
			e, err := kv.Get(ctx(t), k)
			if err != nil {
				t.Fatal(err)
			}
			st[b+" "+k] = string(e.Value()) // a lease's renewals keep its value; its holder is in it
			if b == contract.AccountsBucket {
				st[b+" "+k] += fmt.Sprintf(" @%d", e.Revision())
			}
		}
	}
	return st
}

// unchanged waits a moment for any late effect of an attack, then fails on every difference from
// before, checks that both nodes still answer and that the history reconciles.
func (sb *secureBank) unchanged(t *testing.T, before bankState) {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	after := sb.state(t)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed:\n  before %s\n  after  %s", k, v, after[k])
		}
	}
	for k, v := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s appeared: %s", k, v)
		}
	}
	for _, acc := range []string{"alice", "bob"} {
		if _, err := sb.c.Balance(ctx(t), acc); err != nil {
			t.Errorf("the node of %s no longer answers: %v", acc, err)
		}
	}
	sb.reconciled()
}

func TestAttacks(t *testing.T) {
	sb := startSecureBank(t, addUnlimitedCustomer)
	if tr := sb.transfer("alice", "t-0", "bob", "10.00"); tr.Status != contract.TransferCommitted {
		t.Fatalf("a transfer before the attacks: %+v", tr)
	}
	sb.historyMatchesOutboxes()
	before := sb.state(t)

	t.Run("a customer's reply subjects cannot reach anything in the bank", func(t *testing.T) {
		alice := sb.customer("alice")
		for _, reply := range []string{
			"$KV.tsbank_accounts.bob", "$KV.tsbank_accounts.mallory", "$KV.tsbank_leases.account-2", "$KV.tsbank_nodes.account-2",
			"$JS.API.STREAM.PURGE.TSBANK_EVENTS", "$JS.API.STREAM.DELETE.KV_tsbank_accounts", "$JS.API.CONSUMER.DELETE.TSBANK_EVENTS.history",
			"bank.node.account-2.account.bob.commit", "bank.outbox.account-2.bob.deposit", "bank.events.bob.deposit",
		} {
			for _, subject := range []string{"bank.account.alice.balance", "bank.transfer.alice.status", "bank.history.alice.query"} {
				if err := alice.nc.PublishRequest(subject, reply, []byte(`{}`)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := alice.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		sb.unchanged(t, before)
	})

	t.Run("a customer with no limits inside CUSTOMERS reaches only what the bank exports", func(t *testing.T) {
		// mallory stands for a customer whose permissions were got wrong: only the imports bound her.
		mallory, err := connectAs(t, sb.s, "mallory", password("mallory"), "")
		if err != nil {
			t.Fatal(err)
		}
		for _, subject := range []string{
			"bank.node.account-2.account.bob.commit", "bank.node.account-2.account.bob.balance", "bank.account.bob.deposit",
			"bank.account.bob.limit", "bank.account.bob.whereis", "bank.transfers.resolve", "bank.coordinator.decision",
			"bank.customers.add", "bank.history.reconcile", "$JS.API.STREAM.DELETE.TSBANK_EVENTS", "$JS.API.INFO", "$SRV.PING",
		} {
			reply, err := mallory.nc.Request(subject, []byte(`{}`), 300*time.Millisecond)
			var data string
			if reply != nil {
				data = string(reply.Data)
			}
			switch {
			case errors.Is(err, nats.ErrNoResponders), errors.Is(err, nats.ErrTimeout):
			case err == nil && strings.HasPrefix(subject, "$JS.") && strings.Contains(data, "not enabled for account"):
				// The server's own answer: CUSTOMERS has no JetStream, and the bank's is not in reach.
			default:
				t.Errorf("%s from inside CUSTOMERS: %v %s, want no responders", subject, err, data)
			}
		}
		for _, subject := range []string{"$KV.tsbank_accounts.bob", "bank.outbox.account-2.bob.deposit", "$KV.tsbank_leases.account-2"} {
			if err := mallory.nc.Publish(subject, []byte(`"account-1"`)); err != nil {
				t.Fatal(err)
			}
		}
		mallory.nc.Flush()
		sb.unchanged(t, before)
	})

	t.Run("a stolen node credential cannot reach another node, manage JetStream or rewrite the registry", func(t *testing.T) {
		acct1 := sb.service("account-1")
		acct1.publishDenied(t,
			"bank.node.account-2.account.bob.prepare", "bank.node.account-2.account.bob.commit", "bank.node.account-2.account.bob.abort",
			"bank.node.account-2.account.bob.deposit", "bank.node.account-2.account.bob.withdraw", "bank.node.account-2.account.bob.limit",
			"bank.node.account-2.account.bob.close", "bank.account.bob.deposit", "bank.account.bob.withdraw",
			"$KV.tsbank_leases.account-2", "$KV.tsbank_nodes.account-2", "bank.outbox.account-2.bob.deposit", "bank.events.bob.deposit",
			"$JS.API.STREAM.UPDATE.TSBANK_EVENTS", "$JS.API.STREAM.DELETE.KV_tsbank_accounts", "$JS.API.STREAM.PURGE.KV_tsbank_accounts",
			"$JS.API.STREAM.MSG.DELETE.KV_tsbank_accounts", "$JS.API.CONSUMER.DELETE.TSBANK_EVENTS.history",
			"$JS.API.STREAM.CREATE.SNOOP", "$JS.API.CONSUMER.CREATE.TSBANK_EVENTS", "$JS.API.CONSUMER.DURABLE.CREATE.TSBANK_EVENTS.x",
			"bank.transfers.resolve", "bank.customers.add", "$SYS.REQ.USER.AUTH", "_INBOX_coordinator.x",
			// Another node's record that it ran, and the bank's counters, which only the history keeps.
			"$KV.tsbank_accounts.node.account-2", "bank.counters.2026-12-01.transfers", "bank.payments")
		acct1.subscribeDenied(t, "bank.node.account-2.>", "bank.node.*.account.*.prepare", "_INBOX.>", "_INBOX_coordinator.>",
			"bank.transfer.*", "bank.history.>", "$SYS.REQ.USER.AUTH", "bank.outbox.>")

		// The registry accepts one message per key and refuses roll-ups, deletes and purges.
		for _, m := range []*nats.Msg{
			{Subject: "$KV.tsbank_accounts.bob", Data: []byte("account-1")},
			{Subject: "$KV.tsbank_accounts.bob", Data: []byte("account-1"), Header: nats.Header{"Nats-Rollup": []string{"all"}}},
			{Subject: "$KV.tsbank_accounts.alice", Header: nats.Header{"KV-Operation": []string{"PURGE"}, "Nats-Rollup": []string{"sub"}}},
			{Subject: "$KV.tsbank_accounts.alice", Header: nats.Header{"KV-Operation": []string{"DEL"}}},
		} {
			reply, err := acct1.nc.RequestMsg(m, 2*time.Second)
			if err != nil {
				t.Fatalf("publish %s %v: %v", m.Subject, m.Header, err)
			}
			var ack struct {
				Error *struct{ Description string } `json:"error"`
			}
			if json.Unmarshal(reply.Data, &ack) != nil || ack.Error == nil {
				t.Errorf("the registry took %s %v: %s", m.Subject, m.Header, reply.Data)
			}
		}

		// A reply subject chosen by a stolen credential is not answered either: the node drops it.
		for _, reply := range []string{"$KV.tsbank_leases.account-2", "$KV.tsbank_accounts.mallory", "$JS.API.STREAM.DELETE.TSBANK_EVENTS"} {
			if err := acct1.nc.PublishRequest("bank.node.account-2.account.bob.balance", reply, nil); err != nil {
				t.Fatal(err)
			}
		}
		acct1.nc.Flush()
		sb.unchanged(t, before)
	})

	t.Run("a stolen coordinator credential cannot move money without the coordinator's key", func(t *testing.T) {
		coord := sb.service(natsconf.UserCoordinator)
		coord.publishDenied(t, "bank.account.bob.deposit", "bank.account.bob.limit", "$KV.tsbank_accounts.zed",
			"$JS.API.STREAM.DELETE.TSBANK_EVENTS", "bank.outbox.account-2.bob.deposit", "bank.history.reconcile",
			"bank.counters.2026-12-01.transfers")
		coord.subscribeDenied(t, "bank.node.>", "bank.account.*.deposit", "_INBOX.>")
		// Well-formed, signed with a key the nodes do not trust.
		kp := foreignKey(t)
		prep := contract.PrepareRequest{TransferID: "forged-1", Leg: contract.LegCredit, Amount: "500.00", Counterparty: "alice"}
		prep.Sig, _ = decisionsig.Sign(kp, decisionsig.Prepare("bob", prep))
		var vote contract.Vote
		err := coord.c.Call(ctx(t), contract.NodeAccountSubject("account-2", "bob", contract.OpPrepare), prep, &vote)
		if contract.CodeOf(err) != contract.CodeForbidden {
			t.Fatalf("a prepare signed by another key: %+v, %v", vote, err)
		}
		sb.unchanged(t, before)
	})

	t.Run("a stolen history credential cannot truncate the stream or delete its consumer", func(t *testing.T) {
		hist := sb.service(natsconf.UserHistory)
		hist.publishDenied(t, "$JS.API.STREAM.UPDATE.TSBANK_EVENTS", "$JS.API.STREAM.PURGE.TSBANK_EVENTS",
			"$JS.API.CONSUMER.DELETE.TSBANK_EVENTS.history", "$JS.API.STREAM.CREATE.SNOOP", "$JS.API.CONSUMER.CREATE.TSBANK_EVENTS",
			"bank.outbox.account-1.alice.deposit", "bank.node.account-1.account.alice.commit", "bank.account.alice.withdraw",
			"$KV.tsbank_accounts.zed", "$JS.API.STREAM.PURGE.TSBANK_COUNTERS", "$JS.API.STREAM.DELETE.TSBANK_COUNTERS",
			"$JS.API.STREAM.UPDATE.TSBANK_COUNTERS", "bank.payments")
		hist.subscribeDenied(t, "bank.account.>", "bank.node.>", "_INBOX.>")
		// It may add to the counters, and only add: the counter stream refuses a message that would
		// set a total rather than increment it.
		reply, err := hist.nc.RequestMsg(&nats.Msg{Subject: "bank.counters.2026-12-01.transfers", Data: []byte(`{"val":"1000000"}`)}, 2*time.Second)
		var ack struct {
			Error *struct{ Description string } `json:"error"`
		}
		if err != nil || json.Unmarshal(reply.Data, &ack) != nil || ack.Error == nil {
			t.Errorf("the counters took a total set by a stolen history credential: %v %s", err, replyData(reply))
		}
		sb.unchanged(t, before)
	})

	t.Run("the operator cannot forge a decision, rewrite the registry or erase events", func(t *testing.T) {
		op := sb.nc
		var vote contract.Vote
		err := sb.c.Call(ctx(t), contract.NodeAccountSubject("account-2", "bob", contract.OpPrepare),
			contract.PrepareRequest{TransferID: "forged-2", Leg: contract.LegCredit, Amount: "500.00", Counterparty: "alice"}, &vote)
		if contract.CodeOf(err) != contract.CodeForbidden {
			t.Fatalf("an unsigned prepare from the operator: %+v, %v", vote, err)
		}
		js, _ := jetstream.New(op)
		c := context.Background()
		if _, err := js.Publish(c, "$KV.tsbank_accounts.bob", []byte("account-1")); err == nil {
			t.Error("the operator rewrote bob's registry entry")
		}
		events, _ := js.Stream(c, contract.EventsStream)
		if err := events.DeleteMsg(c, 1); err == nil {
			t.Error("the operator deleted an event")
		}
		if err := events.Purge(c); err == nil {
			t.Error("the operator purged the events")
		}
		cfg := events.CachedInfo().Config
		cfg.DenyDelete, cfg.DenyPurge = false, false
		if _, err := js.UpdateStream(c, cfg); err == nil {
			t.Error("the operator lifted the events' protection")
		}
		var list contract.CustomerList
		if err := sb.c.Call(ctx(t), contract.SubjectCustomersList, struct{}{}, &list); err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(list)
		for _, secret := range []string{"$2a$", "$2b$", customerPasswords["alice"]} {
			if strings.Contains(string(raw), secret) {
				t.Errorf("the customer list shows a password or its hash: %s", raw)
			}
		}
		sb.unchanged(t, before)
	})
}

// addUnlimitedCustomer adds mallory to CUSTOMERS with a password and no permission limits, past
// the auth service, to test the account boundary on its own.
func addUnlimitedCustomer(o *server.Options) {
	for _, a := range o.Accounts {
		if a.Name == natsconf.CustomersAccount {
			o.Users = append(o.Users, &server.User{Username: "mallory", Password: password("mallory"), Account: a})
			o.AuthCallout.AuthUsers = append(o.AuthCallout.AuthUsers, "mallory")
		}
	}
}

func replyData(m *nats.Msg) string {
	if m == nil {
		return ""
	}
	return string(m.Data)
}

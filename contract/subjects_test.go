package contract

import "testing"

func TestAnOutboxSubjectParsesBackAndOtherSubjectsDoNot(t *testing.T) {
	t.Parallel()
	node, account, typ, ok := ParseOutboxSubject(OutboxSubject("account-1", "alice", EventDeposit))
	if !ok || node != "account-1" || account != "alice" || typ != EventDeposit {
		t.Fatalf("outbox subject parsed as %q %q %q %v", node, account, typ, ok)
	}
	for _, s := range []string{"bank.events.alice.deposit", "bank.outbox.account-1.alice", "bank.outbox.a.b.c.d"} {
		if _, _, _, ok := ParseOutboxSubject(s); ok {
			t.Errorf("%s parsed as an outbox subject", s)
		}
	}
}

package contract

import "testing"

// TestEverySubjectParsesBackToItsEndpoint binds every endpoint's tokens and parses the subject
// back: no two patterns overlap, and the values come back.
func TestEverySubjectParsesBackToItsEndpoint(t *testing.T) {
	values := map[string]string{"account": "acc-1", "node": "account-2", "customer": "carol"}
	names := map[Role]map[string]bool{}
	for _, e := range Endpoints {
		subject := Bind(e.Subject, values)
		got, tokens, ok := Tokens(subject)
		if !ok || got.Subject != e.Subject || got.ServedBy != e.ServedBy {
			t.Errorf("%s parses as %+v, %v", subject, got, ok)
		}
		for k, v := range tokens {
			if values[k] != v {
				t.Errorf("%s: token %s = %q", subject, k, v)
			}
		}
		if names[e.ServedBy] == nil {
			names[e.ServedBy] = map[string]bool{}
		}
		if names[e.ServedBy][e.Name] {
			t.Errorf("two endpoints of %s are named %s", e.ServedBy, e.Name)
		}
		names[e.ServedBy][e.Name] = true
		if len(e.Callers) == 0 {
			t.Errorf("%s has no caller", e.Subject)
		}
	}
	if Token("bank.account.bob.balance", "account") != "bob" || Token("bank.nothing.here", "account") != "" {
		t.Error("Token")
	}
}

package server

import (
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
)

func TestConfigRefusesAMissingOrNonAccountIssuerSeed(t *testing.T) {
	user, _ := nkeys.CreateUser()
	userSeed, _ := user.Seed()
	for name, seed := range map[string]string{"missing": "", "not a seed": "SAnope", "a user seed": string(userSeed)} {
		t.Run(name, func(t *testing.T) {
			vars := map[string]string{"DATABASE_URL": "postgres://x/tsbank_auth", "AUTH_ISSUER_SEED": seed}
			_, err := ConfigFromEnv(func(k string) string { return vars[k] })
			if err == nil || !strings.Contains(err.Error(), "AUTH_ISSUER_SEED") {
				t.Fatalf("err = %v, want one naming AUTH_ISSUER_SEED", err)
			}
		})
	}
}

func TestConfigLogsTheIssuerByItsPublicKeyNeverItsSeed(t *testing.T) {
	acc, _ := nkeys.CreateAccount()
	seed, _ := acc.Seed()
	pub, _ := acc.PublicKey()
	vars := map[string]string{"DATABASE_URL": "postgres://x/tsbank_auth", "AUTH_ISSUER_SEED": string(seed), "BANK_NATS_PASSWORD": "bank-secret"}
	c, err := ConfigFromEnv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	logged := c.LogValue().String()
	if strings.Contains(logged, string(seed)) || strings.Contains(logged, "bank-secret") || !strings.Contains(logged, pub) {
		t.Errorf("logged %s", logged)
	}
}

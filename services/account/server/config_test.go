package server_test

import (
	"strings"
	"testing"

	"tsbank/contract/decisionsig"
	"tsbank/services/account/server"
)

func TestMissingOrMalformedCoordinatorKeysStopTheStartNamingTheVariable(t *testing.T) {
	t.Parallel()
	seed, public, err := decisionsig.Generate()
	if err != nil {
		t.Fatal(err)
	}
	for name, keys := range map[string]string{
		"missing": "", "not a key": "change-me", "a seed instead": seed, "one bad key of two": public + ",Nbad",
	} {
		t.Run(name, func(t *testing.T) {
			vars := map[string]string{"ACCOUNT_NODE": "account-1", "DATABASE_URL": "postgres://localhost/a1", "COORDINATOR_PUBLIC_KEYS": keys}
			_, err := server.ConfigFromEnv(func(k string) string { return vars[k] })
			if err == nil || !strings.Contains(err.Error(), "COORDINATOR_PUBLIC_KEYS") {
				t.Fatalf("ConfigFromEnv = %v, want an error naming COORDINATOR_PUBLIC_KEYS", err)
			}
			if strings.Contains(err.Error(), seed) {
				t.Fatalf("the error repeats a seed: %v", err)
			}
		})
	}
}

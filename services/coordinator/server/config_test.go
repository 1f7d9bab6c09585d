package server_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"

	"tsbank/contract/decisionsig"
	"tsbank/services/coordinator/server"
)

func config(seed string) (server.Config, error) {
	vars := map[string]string{"DATABASE_URL": "postgres://localhost/tsbank_coordinator", "COORDINATOR_SIGNING_KEY": seed}
	return server.ConfigFromEnv(func(k string) string { return vars[k] })
}

func TestAMissingOrMalformedSigningKeyStopsTheStartNamingTheVariable(t *testing.T) {
	t.Parallel()
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	userSeed, _ := user.Seed()
	_, public, err := decisionsig.Generate()
	if err != nil {
		t.Fatal(err)
	}
	for name, seed := range map[string]string{
		"missing": "", "not a seed": "SNchange-me", "a user seed": string(userSeed), "a public key": public,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config(seed)
			if err == nil || !strings.Contains(err.Error(), "COORDINATOR_SIGNING_KEY") {
				t.Fatalf("ConfigFromEnv = %v, want an error naming COORDINATOR_SIGNING_KEY", err)
			}
			if seed != "" && strings.Contains(err.Error(), seed) {
				t.Fatalf("the error repeats the key: %v", err)
			}
		})
	}
}

func TestTheStartLogShowsThePublicKeyNotTheSeed(t *testing.T) {
	t.Parallel()
	seed, public, err := decisionsig.Generate()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config(seed)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	slog.New(slog.NewTextHandler(&out, nil)).Info("starting", "config", cfg)
	if strings.Contains(out.String(), seed) || !strings.Contains(out.String(), public) {
		t.Fatalf("start log: %s", out.String())
	}
}

package main

import (
	"bytes"
	"strings"
	"testing"

	"tsbank/contract/decisionsig"
)

func TestKeygenPrintsAPairTheServicesAccept(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"keygen"}, &out); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		k, v, _ := strings.Cut(line, "=")
		vars[k] = v
	}
	kp, err := decisionsig.ParseSeed(vars["COORDINATOR_SIGNING_KEY"])
	if err != nil {
		t.Fatalf("COORDINATOR_SIGNING_KEY: %v\n%s", err, out.String())
	}
	v, err := decisionsig.NewVerifier(vars["COORDINATOR_PUBLIC_KEYS"])
	if err != nil {
		t.Fatalf("COORDINATOR_PUBLIC_KEYS: %v\n%s", err, out.String())
	}
	s := decisionsig.Statement{Op: "commit", TransferID: "t1", Leg: "credit", Account: "bob"}
	sig, err := decisionsig.Sign(kp, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(s, sig); err != nil {
		t.Fatalf("the public key does not verify the seed's signature: %v", err)
	}
}

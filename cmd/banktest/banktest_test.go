package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"tsbank/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// TestAShortRunWithEveryFaultKeepsEveryInvariant is the short version of the bank test that CI
// runs on every change: every kind of fault at least once, then every invariant checked.
func TestAShortRunWithEveryFaultKeepsEveryInvariant(t *testing.T) {
	if testing.Short() {
		t.Skip("a 40 s fault run")
	}
	var out bytes.Buffer
	ok, err := run(context.Background(), options{
		Duration: 40 * time.Second, Clients: 16, Accounts: 8, Seed: 20261126, Faults: faultKinds, Interval: 2 * time.Second,
	}, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatal("an invariant does not hold: see the report above")
	}
	for _, kind := range faultKinds {
		if !bytes.Contains(out.Bytes(), []byte("| "+kind+" |")) {
			t.Errorf("the run injected no %s fault", kind)
		}
	}
}

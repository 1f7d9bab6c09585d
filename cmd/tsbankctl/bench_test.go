package main

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/contract/decisionsig"
	account "tsbank/services/account/server"
	coordinator "tsbank/services/coordinator/server"
	"tsbank/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// TestBenchMovesMoneyAndTheMoneyAddsUp runs the bench for two seconds in each mode against a bank
// started in this process, as the devstack starts it (two account nodes and the coordinator, each
// with its own database), and checks that requests succeeded, that the report has every figure
// and that the money check passed.
func TestBenchMovesMoneyAndTheMoneyAddsUp(t *testing.T) {
	startBank(t)
	for _, tc := range []struct {
		name, succeeded string
		flags           []string
	}{
		{"transfers between pairs", "committed", []string{"-mode", "transfer", "-prefix", "pairs"}},
		{"transfers between two hot accounts", "committed", []string{"-mode", "transfer", "-hot", "-prefix", "hot"}},
		{"deposits", "deposited", []string{"-mode", "deposit", "-prefix", "deposits"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"-clients", "4", "-duration", "2s"}, tc.flags...)
			var out, progress bytes.Buffer
			if err := bench(args, &out, &progress); err != nil {
				t.Fatalf("bench %v: %v\nreport:\n%s\nprogress:\n%s", args, err, &out, &progress)
			}
			report := out.String()
			t.Logf("bench %v:\n%s%s", args, &progress, report)
			if n := outcomeCount(report, tc.succeeded); n == 0 {
				t.Errorf("no request %s:\n%s", tc.succeeded, report)
			}
			for _, field := range []string{"throughput", "/s", "p50 ", "p99 ", "p99.9 ", "outcomes", "money check  ok"} {
				if !strings.Contains(report, field) {
					t.Errorf("the report has no %q:\n%s", field, report)
				}
			}
			if !regexp.MustCompile(`(?m)^\s+1s  \w+s +\d+  rate +\d+/s  errors 0$`).MatchString(progress.String()) {
				t.Errorf("no progress line after 1s, or with errors:\n%s", &progress)
			}
		})
	}
}

// TestBenchFailsWhenMoneyAppears deposits into one of the bench's accounts behind its back while
// it runs: the balances then add up to more than the transfers allow, and the bench must say so
// and fail.
func TestBenchFailsWhenMoneyAppears(t *testing.T) {
	c := startBank(t)
	done := make(chan error, 1)
	var out, progress bytes.Buffer
	go func() {
		done <- bench([]string{"-clients", "2", "-duration", "1s", "-prefix", "leak"}, &out, &progress)
	}()
	for i := 0; ; i++ {
		select {
		case err := <-done:
			if err == nil || !strings.Contains(out.String(), "money check  FAILED") {
				t.Fatalf("bench: %v, want a failed money check:\n%s", err, &out)
			}
			return
		case <-time.After(50 * time.Millisecond):
			// Refused until the bench has opened the account, and then money out of nowhere.
			_, _ = c.Deposit(context.Background(), "leak-0000", contract.MoneyRequest{ID: fmt.Sprintf("leak-%d", i), Amount: "1.00"})
		}
	}
}

// outcomeCount reads the count of one outcome line of a report.
func outcomeCount(report, name string) int {
	m := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(name) + `\s+(\d+)$`).FindStringSubmatch(report)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// startBank starts NATS, two account nodes and the coordinator in this process, points NATS_URL
// at them for the command under test, and returns a client of its own.
func startBank(t *testing.T) *client.Client {
	t.Helper()
	ns := testkit.StartNATS(t)
	t.Setenv("NATS_URL", ns.ClientURL())
	t.Setenv("NATS_USER", "")
	seed, public, err := decisionsig.Generate()
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"NATS_URL": ns.ClientURL(), "HTTP_ADDR": "127.0.0.1:0", "COORDINATOR_PUBLIC_KEYS": public, "COORDINATOR_SIGNING_KEY": seed}
	env := func(extra map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := extra[k]; ok {
				return v
			}
			return base[k]
		}
	}
	for _, name := range []string{"account-1", "account-2"} {
		cfg, err := account.ConfigFromEnv(env(map[string]string{"ACCOUNT_NODE": name, "DATABASE_URL": testkit.Postgres(t, "account")}))
		if err != nil {
			t.Fatal(err)
		}
		n, err := account.Start(context.Background(), cfg, testkit.Logger(t))
		if err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		t.Cleanup(func() { n.Stop(5 * time.Second) })
	}
	cfg, err := coordinator.ConfigFromEnv(env(map[string]string{"DATABASE_URL": testkit.Postgres(t, "coordinator")}))
	if err != nil {
		t.Fatal(err)
	}
	s, err := coordinator.Start(context.Background(), cfg, testkit.Logger(t))
	if err != nil {
		t.Fatalf("start coordinator: %v", err)
	}
	t.Cleanup(func() { s.Stop(5 * time.Second) })
	return client.New(testkit.Connect(t, ns))
}

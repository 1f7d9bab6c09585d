package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/platform/natsconf"
	observer "tsbank/services/observer/server"
	"tsbank/testkit"
)

// startObserver starts the Observer on b, reading every service's metrics and the NATS server's
// monitoring, collecting every 300 ms.
func (b *bank) startObserver() *observer.Server {
	b.t.Helper()
	scrape := []string{"coordinator=http://" + b.coord.HTTPAddr()}
	for name, n := range b.nodes {
		scrape = append(scrape, name+"=http://"+n.HTTPAddr())
	}
	cfg, err := observer.ConfigFromEnv(b.getenv(map[string]string{
		"HTTP_ADDR": "127.0.0.1:0", "OBSERVER_ADDR": "127.0.0.1:0", "OBSERVER_INTERVAL": "300ms",
		"OBSERVER_SCRAPE": strings.Join(scrape, ","), "NATS_MONITOR_URLS": "http://" + b.ns.MonitorAddr().String(),
	}))
	if err != nil {
		b.t.Fatal(err)
	}
	s, err := observer.Start(context.Background(), cfg, testkit.Logger(b.t))
	if err != nil {
		b.t.Fatalf("start observer: %v", err)
	}
	b.t.Cleanup(func() { s.Stop(5 * time.Second) })
	return s
}

// chromium is the headless browser of the browser tests: Debian's chromium, which .ci/run
// installs. Without it the test is skipped, except in CI, where it must run.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed: .ci/run installs it (apt-get install -y chromium)")
	}
	t.Skip("chromium is not installed (apt-get install -y chromium)")
	return ""
}

// browse loads url in a headless chromium, lets its script run, and returns the page as its
// script left it; with a screenshot path it also saves what it shows.
func browse(t *testing.T, browser, url, screenshot string) string {
	t.Helper()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=1500", "--window-size=1280,1400"}
	if screenshot != "" {
		args = append(args, "--screenshot="+screenshot)
	} else {
		args = append(args, "--dump-dom")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, browser, append(args, url)...).Output()
	if err != nil {
		t.Fatalf("chromium %s: %v\n%s", url, err, out)
	}
	return string(out)
}

var nodeCard = regexp.MustCompile(`data-node="([^"]+)" data-state="(up|down)"`)

// nodeStates reads the state of each node card in a page.
func nodeStates(dom string) map[string]string {
	out := map[string]string{}
	for _, m := range nodeCard.FindAllStringSubmatch(dom, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// TestTheObserverShowsTheBankAndANodeGoingDownInABrowser loads the Observer's page in a real
// browser against a running bank: it shows both nodes up with their accounts, lease epochs, the
// requests per endpoint and the NATS server; a node that stops turns red within a few seconds.
// The screenshot stays in the test's output directory (TSBANK_ARTIFACTS, or the temp dir).
func TestTheObserverShowsTheBankAndANodeGoingDownInABrowser(t *testing.T) {
	browser := chromium(t)
	b := startBank(t)
	b.startHistory()
	b.open("alice", "account-1", "EUR")
	b.open("bob", "account-2", "EUR")
	b.deposit("alice", "100.00")
	for i := range 5 {
		b.transfer("alice", fmt.Sprintf("t-%d", i), "bob", "1.00")
	}
	obs := b.startObserver()
	page := "http://" + obs.PageAddr() + "/"

	var dom string
	testkit.CheckFor(t, 15*time.Second, 200*time.Millisecond, func() error {
		dom = browse(t, browser, page, "")
		if s := nodeStates(dom); s["account-1"] != "up" || s["account-2"] != "up" {
			return fmt.Errorf("node cards %v", s)
		}
		if !strings.Contains(dom, ">transfer<") {
			return fmt.Errorf("no row for the coordinator's transfer endpoint")
		}
		return nil
	})
	for _, want := range []string{"TSBank Observer", "lease holder", "epoch", b.ns.Name(), "in doubt", "prepare", "consumer lag"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page does not show %q", want)
		}
	}

	// The same overview on NATS, for scripts.
	var ov contract.Overview
	if err := b.c.Call(ctx(t), contract.SubjectOverview, nil, &ov); err != nil {
		t.Fatal(err)
	}
	if len(ov.Nodes) != 2 || ov.Nodes[0].Accounts != 1 || ov.Nodes[0].Epoch == 0 || len(ov.NATS) != 1 || !ov.NATS[0].Up {
		t.Fatalf("bank.overview: nodes %+v, nats %+v, problems %v", ov.Nodes, ov.NATS, ov.Problems)
	}

	b.stopNode("account-2")
	stopped := time.Now()
	testkit.CheckFor(t, 15*time.Second, 200*time.Millisecond, func() error {
		dom = browse(t, browser, page, "")
		if s := nodeStates(dom); s["account-2"] != "down" || s["account-1"] != "up" {
			return fmt.Errorf("node cards %v", s)
		}
		return nil
	})
	t.Logf("account-2 shown down %s after it stopped", time.Since(stopped).Round(100*time.Millisecond))

	dir := os.Getenv("TSBANK_ARTIFACTS")
	if dir == "" {
		dir = os.TempDir()
	}
	shot := filepath.Join(dir, "observer.png")
	browse(t, browser, page, shot)
	if st, err := os.Stat(shot); err != nil || st.Size() < 10_000 {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	t.Logf("screenshot: %s", shot)
}

// TestTheObserverReadsEverySourceUnderItsOwnCredentials runs the Observer as its own NATS user on
// the shipped configuration: every source it reads over NATS answers it (no problem reported),
// and the operator, but not a customer, may ask it for bank.overview.
func TestTheObserverReadsEverySourceUnderItsOwnCredentials(t *testing.T) {
	sb := startSecureBank(t, nil)
	if tr := sb.transfer("alice", "t-1", "bob", "1.00"); tr.Status != contract.TransferCommitted {
		t.Fatalf("a transfer: %+v", tr)
	}
	cfg, err := observer.ConfigFromEnv(sb.getenv(map[string]string{
		"NATS_USER": natsconf.UserObserver, "NATS_PASSWORD": password(natsconf.UserObserver),
		"HTTP_ADDR": "127.0.0.1:0", "OBSERVER_ADDR": "127.0.0.1:0", "OBSERVER_INTERVAL": "300ms",
	}))
	if err != nil {
		t.Fatal(err)
	}
	s, err := observer.Start(context.Background(), cfg, testkit.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(5 * time.Second) })
	var ov contract.Overview
	testkit.CheckFor(t, 10*time.Second, 200*time.Millisecond, func() error {
		if err := sb.c.Call(ctx(t), contract.SubjectOverview, nil, &ov); err != nil {
			return err
		}
		if len(ov.Problems) != 0 || len(ov.Nodes) != 2 || !ov.Nodes[0].Live || !ov.Nodes[1].Live || len(ov.Endpoints) == 0 {
			return fmt.Errorf("overview: problems %v, nodes %+v, %d endpoints", ov.Problems, ov.Nodes, len(ov.Endpoints))
		}
		return nil
	})
	var got contract.Overview
	if err := sb.customer("alice").c.Call(ctx(t), contract.SubjectOverview, nil, &got); err == nil {
		t.Fatal("a customer read bank.overview")
	}
}

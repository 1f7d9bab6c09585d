package service_test

import (
	"strings"
	"testing"

	"github.com/nats-io/nats.go/micro"

	"tsbank/contract"
	"tsbank/platform/service"
)

func nop(micro.Request) {}

func historyHandlers(names ...string) []service.Handler {
	var hs []service.Handler
	for _, n := range names {
		hs = append(hs, service.Endpoint(n, n, nop))
	}
	return hs
}

func noWrap(_ string, h micro.Handler) micro.Handler { return h }

// TestRegisterServesExactlyTheTable pins that a service serves the subjects of the endpoint table,
// and that an endpoint without a handler, or a handler without an endpoint, stops it.
func TestRegisterServesExactlyTheTable(t *testing.T) {
	nc := connect(t, runServer(t))
	add := func(handlers []service.Handler) (*service.Server, error) {
		svc, err := service.Start(nc, service.Config{Name: "history", Version: "0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = svc.Stop() })
		return svc, service.Register(svc, contract.RoleHistory, nil, handlers, noWrap)
	}
	svc, err := add(historyHandlers("query", "statement", "balance_at", "reconcile"))
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, e := range info(t, nc, svc).Endpoints {
		subjects = append(subjects, e.Subject)
	}
	if got := strings.Join(subjects, " "); got != "bank.history.*.query bank.history.*.statement bank.history.*.balance_at bank.history.reconcile" {
		t.Errorf("serves %s", got)
	}
	if _, err := add(historyHandlers("query", "statement", "balance_at")); err == nil || !strings.Contains(err.Error(), "reconcile") {
		t.Errorf("an endpoint without a handler: %v", err)
	}
	if _, err := add(historyHandlers("query", "statement", "balance_at", "reconcile", "export")); err == nil || !strings.Contains(err.Error(), "export") {
		t.Errorf("a handler without an endpoint: %v", err)
	}
}

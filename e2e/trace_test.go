package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"tsbank/contract"
	"tsbank/contract/natstrace"
	"tsbank/testkit"
)

// TestTraceOfATransferBetweenNodesJoinsEveryService records, in memory, the spans of one transfer
// from alice on account-1 to bob on account-2 and checks the tree an operator would see: the
// client's request, the coordinator's request under it, the two log writes and a prepare and a
// commit per leg under that, each node's span of each step under the coordinator's, each
// committed leg's outbox publication under its node's commit, and the history's insert under
// that; every span names the transfer, every synchronous child fits within its parent, and the
// batches that carried the steps link to them.
func TestTraceOfATransferBetweenNodesJoinsEveryService(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })

	b := startBank(t)
	b.startHistory()
	b.open("alice", "account-1", "EUR")
	b.open("bob", "account-2", "EUR")
	b.deposit("alice", "100.00")
	// A first transfer fills the coordinator's caches of owners and currencies: their look-ups
	// happen before a transfer has an id, once per account.
	b.transfer("alice", "t-warm", "bob", "1.00")

	c, root := tp.Tracer("test").Start(ctx(t), "test")
	tr, err := b.c.Transfer(c, "alice", contract.TransferRequest{ID: "t-1", To: "bob", Amount: "25.00"})
	root.End()
	if err != nil || tr.Status != contract.TransferCommitted {
		t.Fatalf("transfer = %+v, %v", tr, err)
	}
	traceID := root.SpanContext().TraceID()
	var spans []sdktrace.ReadOnlySpan
	testkit.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		spans = nil
		inserts := 0
		for _, s := range rec.Ended() {
			if s.SpanContext().TraceID() == traceID {
				spans = append(spans, s)
				if s.Name() == "history insert" {
					inserts++
				}
			}
		}
		if inserts < 2 {
			return fmt.Errorf("%d history inserts in the trace so far, want 2", inserts)
		}
		return nil
	})

	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byID[s.SpanContext().SpanID()] = s
		byName[s.Name()] = append(byName[s.Name()], s)
	}
	one := func(name string) sdktrace.ReadOnlySpan {
		t.Helper()
		if len(byName[name]) != 1 {
			t.Fatalf("%d spans %q in the trace, want 1; the trace:\n%s", len(byName[name]), name, describe(spans))
		}
		return byName[name][0]
	}
	parent := func(s sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan { return byID[s.Parent().SpanID()] }
	within := func(child, p sdktrace.ReadOnlySpan) {
		t.Helper()
		if p == nil || child.StartTime().Before(p.StartTime()) || child.EndTime().After(p.EndTime()) {
			t.Errorf("span %s (%v to %v) is not within its parent %v", child.Name(), child.StartTime(), child.EndTime(), p)
		}
	}
	attr := func(s sdktrace.ReadOnlySpan, key string) string {
		for _, kv := range s.Attributes() {
			if string(kv.Key) == key {
				return kv.Value.Emit()
			}
		}
		return ""
	}

	client := one("request transfer")
	if client.Parent().SpanID() != root.SpanContext().SpanID() {
		t.Errorf("the client's span is not a child of the caller's")
	}
	server := one("coordinator transfer")
	if parent(server) != client {
		t.Errorf("the coordinator's span is not a child of the client's")
	}
	within(server, client)
	for _, name := range []string{"log begin", "log decide"} {
		s := one(name)
		if parent(s) != server {
			t.Errorf("%s is not a child of the coordinator's request", name)
		}
		within(s, server)
	}
	// The coordinator's phases follow each other, so their times add up to no more than its
	// request's.
	phases := one("log begin").EndTime().Sub(one("log begin").StartTime()) + one("log decide").EndTime().Sub(one("log decide").StartTime())
	for _, op := range []string{"prepare", "commit"} {
		var longest time.Duration // the legs of a phase run in parallel
		legs := map[string]bool{}
		for _, s := range byName[op] {
			if parent(s) != server {
				t.Errorf("a %s is not a child of the coordinator's request", op)
			}
			within(s, server)
			longest = max(longest, s.EndTime().Sub(s.StartTime()))
			legs[attr(s, "tsbank.leg")] = true
		}
		phases += longest
		if len(byName[op]) != 2 || !legs["debit"] || !legs["credit"] {
			t.Errorf("%d %s spans, legs %v; want one per leg", len(byName[op]), op, legs)
		}
		nodes := byName["node "+op]
		if len(nodes) != 2 {
			t.Fatalf("%d node %s spans, want 2; the trace:\n%s", len(nodes), op, describe(spans))
		}
		for _, s := range nodes {
			p := parent(s)
			if p == nil || p.Name() != op || attr(p, "tsbank.leg") != attr(s, "tsbank.leg") {
				t.Errorf("node %s of the %s leg is not a child of the coordinator's %s of that leg", op, attr(s, "tsbank.leg"), op)
			}
			within(s, p)
		}
	}
	if took := server.EndTime().Sub(server.StartTime()); phases > took {
		t.Errorf("the phases took %v in all, more than the coordinator's request (%v)", phases, took)
	}
	for _, s := range byName["outbox publish"] {
		if p := parent(s); p == nil || p.Name() != "node commit" || p.EndTime().After(s.StartTime()) {
			t.Errorf("an outbox publish is not a child of a node's commit, after it: parent %v", p)
		}
	}
	if n := len(byName["outbox publish"]); n != 2 {
		t.Errorf("%d outbox publishes, want 2 (one event per leg)", n)
	}
	for _, s := range byName["history insert"] {
		if p := parent(s); p == nil || p.Name() != "outbox publish" {
			t.Errorf("a history insert is not a child of an outbox publish: parent %v", p)
		}
	}
	for _, s := range spans {
		if s.SpanContext().SpanID() != root.SpanContext().SpanID() && attr(s, string(natstrace.TransferID)) != tr.TransferID {
			t.Errorf("span %s names transfer %q, want %s", s.Name(), attr(s, string(natstrace.TransferID)), tr.TransferID)
		}
	}

	// Each step travelled in a batch of its own trace, which links to the step.
	linked := map[trace.SpanID]bool{}
	for _, s := range rec.Ended() {
		if s.Name() == "legs batch" {
			for _, l := range s.Links() {
				linked[l.SpanContext.SpanID()] = true
			}
		}
	}
	for _, op := range []string{"prepare", "commit"} {
		for _, s := range byName[op] {
			if !linked[s.SpanContext().SpanID()] {
				t.Errorf("no batch links to the %s of the %s leg", op, attr(s, "tsbank.leg"))
			}
		}
	}
}

// describe lists spans with their parents, for a failure's message.
func describe(spans []sdktrace.ReadOnlySpan) string {
	var sb strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&sb, "  %s %s <- %s %v\n", s.SpanContext().SpanID(), s.Name(), s.Parent().SpanID(), s.EndTime().Sub(s.StartTime()))
	}
	return sb.String()
}

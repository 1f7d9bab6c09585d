package natsapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"tsbank/contract"
	"tsbank/services/history/history"
)

// TestEveryRefusalHasItsCodeAndKeepsItsMessage: the reply to a use case's error is the code of its
// kind with its message, the code of the node's own failure when one caused it, and internal (or
// timeout) for the history's own failures.
func TestEveryRefusalHasItsCodeAndKeepsItsMessage(t *testing.T) {
	a := &API{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for kind, code := range codes {
		e := a.refusal(fmt.Errorf("page: %w", &history.Error{Kind: kind, Message: "the client's message"}))
		if e.Code != code || e.Message != "the client's message" {
			t.Errorf("%v: reply %+v, want %s with the message", kind, e, code)
		}
	}
	overloaded := contract.Errorf(contract.CodeOverloaded, "too many requests")
	for _, c := range []struct {
		name string
		err  error
		code contract.Code
	}{
		{"a node's failure, with its code", &history.Error{Kind: history.ErrNodeUnavailable, Message: "m", Node: overloaded}, contract.CodeOverloaded},
		{"a node's failure without a code", &history.Error{Kind: history.ErrNodeUnavailable, Message: "m", Node: errors.New("no code")}, contract.CodeNodeUnavailable},
		{"the history's own failure", errors.New("the database went away"), contract.CodeInternal},
		{"a deadline passed", fmt.Errorf("page: %w", context.DeadlineExceeded), contract.CodeTimeout},
	} {
		t.Run(c.name+" is "+string(c.code), func(t *testing.T) {
			if e := a.refusal(c.err); e.Code != c.code || e.Message == "" {
				t.Fatalf("reply %+v, want %s", e, c.code)
			}
		})
	}
}

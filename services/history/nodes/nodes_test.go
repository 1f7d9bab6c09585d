package nodes

import (
	"errors"
	"testing"

	"tsbank/contract"
	"tsbank/services/history/history"
)

// TestANodesRefusalIsMarkedAndKeepsItsMessageAndCode: the use cases tell a missing account from a
// node that did not answer by the kind, quote the node's message, and the reply passes its code on.
func TestANodesRefusalIsMarkedAndKeepsItsMessageAndCode(t *testing.T) {
	for _, c := range []struct {
		code contract.Code
		kind error
	}{
		{contract.CodeAccountNotFound, history.ErrAccountNotFound},
		{contract.CodeNodeUnavailable, history.ErrNodeUnavailable},
		{contract.CodeTimeout, history.ErrNodeUnavailable},
	} {
		t.Run(string(c.code), func(t *testing.T) {
			node := contract.Errorf(c.code, "what the node said")
			err := classify(node)
			if !errors.Is(err, c.kind) || err.Error() != node.Error() || contract.CodeOf(err) != c.code {
				t.Fatalf("classified as %v (%q, code %q); want %v with the node's message and code", err, err, contract.CodeOf(err), c.kind)
			}
		})
	}
	own := errors.New("the client failed")
	if err := classify(own); err != own {
		t.Fatalf("an error without a code became %v", err)
	}
	if classify(nil) != nil {
		t.Fatal("no error became one")
	}
}

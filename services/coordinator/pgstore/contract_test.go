package pgstore_test

import (
	"testing"

	"tsbank/services/coordinator/transfer/transfertest"
)

// TestPgstoreKeepsTheStoreContract runs the store contract test that memstore passes too, so that
// the use cases' unit tests on memstore prove what holds with the real log.
func TestPgstoreKeepsTheStoreContract(t *testing.T) {
	transfertest.TestStore(t, func(t *testing.T) transfertest.Stores {
		s := newLeasedStore(t, 0)
		return transfertest.Stores{Log: s, Moves: s.Moves()}
	})
}

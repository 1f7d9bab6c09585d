package memstore_test

import (
	"testing"
	"time"

	"tsbank/services/coordinator/transfer/memstore"
	"tsbank/services/coordinator/transfer/transfertest"
)

func TestMemstoreKeepsTheStoreContract(t *testing.T) {
	transfertest.TestStore(t, func(*testing.T) transfertest.Stores {
		s := memstore.New(time.Now, 0)
		return transfertest.Stores{Log: s, Moves: s.Moves()}
	})
}

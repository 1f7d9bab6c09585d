package pgstore_test

import (
	"testing"

	"tsbank/services/account/account/accounttest"
	"tsbank/services/account/outbox"
	"tsbank/services/account/pgstore"
)

// TestStoreContract holds pgstore to the contract the use cases' unit tests rely on, run on the
// store in memory too (account/memstore).
func TestStoreContract(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL: the fast tier (-short) runs the contract on memstore only")
	}
	t.Parallel()
	accounttest.TestStore(t, func(t *testing.T, node string) accounttest.Store {
		return pgstore.New(newPool(t), node, outbox.Encode)
	})
}

package memstore_test

import (
	"testing"

	"tsbank/services/account/account/accounttest"
	"tsbank/services/account/account/memstore"
)

func TestStoreContract(t *testing.T) {
	t.Parallel()
	accounttest.TestStore(t, func(t *testing.T, node string) accounttest.Store { return memstore.New(node) })
}

package memstore_test

import (
	"testing"

	"tsbank/services/history/history"
	"tsbank/services/history/history/memstore"
	"tsbank/services/history/history/storetest"
)

func TestTheStoreContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) history.Store { return memstore.New() })
}

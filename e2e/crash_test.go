package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/testkit"
)

// TestCoordinatorSIGKILLUnderLoad runs the coordinator binary as a process, kills it with SIGKILL
// while clients are transferring, restarts it, and checks that every transfer has one outcome on
// both legs, the one its log holds, and that no money was created or lost.
func TestCoordinatorSIGKILLUnderLoad(t *testing.T) {
	t.Parallel()
	b := newBank(t)
	for _, name := range nodeNames {
		b.startNode(name)
	}
	accounts := []string{"a1", "a2", "b1", "b2"}
	for i, id := range accounts {
		b.open(id, nodeNames[i/2], "EUR")
		b.deposit(id, "500.00")
	}
	before, _, _, _ := b.ledger()

	env := []string{"DATABASE_URL=" + b.dbs["coordinator"], "NATS_URL=" + b.env["NATS_URL"],
		"COORDINATOR_SIGNING_KEY=" + b.env["COORDINATOR_SIGNING_KEY"]}
	for k, v := range testEnv {
		env = append(env, k+"="+v)
	}
	coord := testkit.NewProcess(t, testkit.Build(t, "tsbank/services/coordinator/cmd/coordinator"), env...)
	coord.Start(t)

	const clients = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	replies := map[string]contract.Transfer{} // from/request id -> acknowledged outcome
	stop := make(chan struct{})
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(c), 11))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				from, to := accounts[r.IntN(4)], accounts[r.IntN(4)]
				if from == to {
					continue
				}
				rctx, cancel := context.WithTimeout(context.Background(), time.Second)
				tr, err := b.c.Transfer(rctx, from, contract.TransferRequest{ID: fmt.Sprintf("k%d-%d", c, i), To: to, Amount: fmt.Sprintf("%d.00", 1+r.IntN(80))})
				cancel()
				if err == nil {
					mu.Lock()
					replies[from+"/"+tr.ID] = tr
					mu.Unlock()
				}
			}
		}()
	}
	testkit.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(replies) < 100 {
			return fmt.Errorf("%d transfers so far", len(replies))
		}
		return nil
	})
	coord.Kill(t)
	time.Sleep(300 * time.Millisecond) // the fault lasts a while: clients meet the dead coordinator
	coord.Start(t)
	close(stop)
	wg.Wait()
	b.settled()

	after, _, _, _ := b.ledger()
	if after != before {
		t.Fatalf("total balance went from %d to %d", before, after)
	}
	rows, err := b.pool("coordinator").Query(ctx(t), `SELECT transfer_id, from_account, request_id, outcome FROM transfers`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id, from, reqID string
		var outcome contract.TransferState
		if err := rows.Scan(&id, &from, &reqID, &outcome); err != nil {
			t.Fatal(err)
		}
		n++
		for _, name := range nodeNames {
			var bad int
			// No leg of this transfer may have the other outcome, or still be undecided.
			if err := b.pool(name).QueryRow(ctx(t), `SELECT count(*) FROM holds WHERE transfer_id = $1 AND state <> $2`, id, outcome).Scan(&bad); err != nil || bad != 0 {
				t.Fatalf("transfer %s is %s in the log, but %d legs on %s disagree (%v)", id, outcome, bad, name, err)
			}
		}
		if tr, ok := replies[from+"/"+reqID]; ok && tr.Status != outcome {
			t.Fatalf("client was told %s for %s, the log says %s", tr.Status, reqID, outcome)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d transfers logged, %d acknowledged to clients, across one SIGKILL", n, len(replies))
}

package history_test

import (
	"errors"
	"testing"

	"tsbank/services/history/history"
)

// TestABalanceAtIsAnsweredOnlyWhenEveryEventItDependsOnIsHere: the balance at a moment depends on
// the events up to the first after it; with none after it here, on the node's newest event too.
func TestABalanceAtIsAnsweredOnlyWhenEveryEventItDependsOnIsHere(t *testing.T) {
	nodeNewest := func(n int64) func() (int64, error) { return func() (int64, error) { return n, nil } }
	unasked := func() (int64, error) {
		t.Fatal("the node was asked, though an event after the moment is here")
		return 0, nil
	}
	down := errors.New("node down")
	for _, c := range []struct {
		name     string
		before   history.Before
		newest   func() (int64, error)
		complete bool
		err      error
	}{
		{"events 1 to 3 here, 4 after the moment", history.Before{Seq: 3, FirstAfter: 4, Rows: 4}, unasked, true, nil},
		{"event 2 missing below the first after", history.Before{Seq: 3, FirstAfter: 4, Rows: 3}, unasked, false, nil},
		{"no event after the moment here, and none newer on the node", history.Before{Seq: 5, Rows: 5}, nodeNewest(5), true, nil},
		{"no event after the moment here, but a newer one on the node", history.Before{Seq: 5, Rows: 5}, nodeNewest(6), false, nil},
		{"before the first event, the first here", history.Before{FirstAfter: 1, Rows: 1}, unasked, true, nil},
		{"no event at all, none on the node", history.Before{}, nodeNewest(0), true, nil},
		{"no event here, one on the node", history.Before{}, nodeNewest(1), false, nil},
		{"the node cannot be asked", history.Before{Seq: 2, Rows: 2}, func() (int64, error) { return 0, down }, false, down},
	} {
		t.Run(c.name, func(t *testing.T) {
			complete, err := c.before.Complete(c.newest)
			if complete != c.complete || !errors.Is(err, c.err) {
				t.Fatalf("complete %v, %v; want %v, %v", complete, err, c.complete, c.err)
			}
		})
	}
}

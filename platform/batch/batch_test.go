package batch_test

import (
	"context"
	"sync"
	"testing"

	"tsbank/platform/batch"
)

// TestALoneItemGoesAtOnceAndLaterOnesWaitTogether holds the only writer busy with a first item:
// the items submitted meanwhile leave as one batch when it is done, each with its own result.
func TestALoneItemGoesAtOnceAndLaterOnesWaitTogether(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	g := &batch.Group[int, int]{Max: 100, Writers: 1, Write: func(items []int) []int {
		mu.Lock()
		sizes = append(sizes, len(items))
		first := len(sizes) == 1
		mu.Unlock()
		if first {
			<-release
		}
		out := make([]int, len(items))
		for i, v := range items {
			out[i] = v * 10
		}
		return out
	}}
	first, _ := g.Submit(1) // taken at once as a batch of its own: the only writer is now busy
	var calls []*batch.Call[int, int]
	for i := 2; i <= 6; i++ {
		c, _ := g.Submit(i)
		calls = append(calls, c)
	}
	close(release)
	<-first.Done()
	if first.Result() != 10 {
		t.Fatalf("first result %d", first.Result())
	}
	for i, c := range calls {
		<-c.Done()
		if c.Result() != (i+2)*10 {
			t.Errorf("item %d: result %d", i+2, c.Result())
		}
	}
	if err := g.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sizes) != 2 || sizes[0] != 1 || sizes[1] != 5 {
		t.Fatalf("batch sizes %v, want [1 5]: the lone item at once, the others together", sizes)
	}
}

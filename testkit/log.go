package testkit

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
)

// Logger returns a JSON logger at debug level whose output is kept in memory and printed
// only if the test fails, so passing tests stay quiet and failing ones show everything the
// code under test said. Unlike t.Log, it is safe to use from goroutines that outlive the test.
func Logger(t testing.TB) *slog.Logger {
	t.Helper()
	w := &syncBuffer{}
	// Cleanups run last-in first-out, so whatever is shut down by cleanups registered after
	// this one has already logged when the buffer is printed.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log output:\n%s", w.String())
		}
	})
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// syncBuffer is a bytes.Buffer that may be written and read concurrently: the handler locks
// its own writes, but the read in the cleanup can race with a goroutine that is still logging.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

package testkit

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
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

// Warnings is a slog handler that keeps every message logged at warn or above, each followed by
// its "fix" attribute when it has one, so that a test can count what an operator would read.
type Warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *Warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (w *Warnings) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "fix" {
			msg += " | " + a.Value.String()
		}
		return true
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, msg)
	return nil
}

func (w *Warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *Warnings) WithGroup(string) slog.Handler      { return w }

// All is every message kept so far.
func (w *Warnings) All() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.msgs...)
}

// Count is how many messages start with prefix, and the last of them.
func (w *Warnings) Count(prefix string) (n int, last string) {
	for _, m := range w.All() {
		if strings.HasPrefix(m, prefix) {
			n, last = n+1, m
		}
	}
	return n, last
}

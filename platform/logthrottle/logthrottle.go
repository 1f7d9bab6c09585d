// Package logthrottle keeps a repeated warning or error from flooding the log: during a 2 s
// Postgres stop the coordinator once wrote 105,000 ERROR lines in 3 minutes, one per request, and
// the lines that mattered were lost among them.
package logthrottle

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// New returns a handler that passes every record below slog.LevelWarn to h, and of the records at
// Warn and above writes one per message and level each period: the others are counted, and the
// next one written carries "suppressed", the number left out since the last.
func New(h slog.Handler, period time.Duration) slog.Handler {
	return &handler{next: h, s: &state{period: period, seen: map[key]*seen{}}}
}

type handler struct {
	next slog.Handler
	s    *state // shared with the handlers derived by WithAttrs and WithGroup
}

type state struct {
	period time.Duration
	mu     sync.Mutex
	seen   map[key]*seen
}

type key struct {
	level slog.Level
	msg   string
}

type seen struct {
	last       time.Time
	suppressed int
}

// maxKeys bounds the memory of messages seen: past it the record starts again.
const maxKeys = 10000

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.next.Handle(ctx, r)
	}
	k := key{r.Level, r.Message}
	h.s.mu.Lock()
	sn := h.s.seen[k]
	if sn == nil {
		if len(h.s.seen) >= maxKeys {
			clear(h.s.seen)
		}
		sn = &seen{}
		h.s.seen[k] = sn
	}
	if !sn.last.IsZero() && r.Time.Sub(sn.last) < h.s.period {
		sn.suppressed++
		h.s.mu.Unlock()
		return nil
	}
	sn.last = r.Time
	suppressed := sn.suppressed
	sn.suppressed = 0
	h.s.mu.Unlock()
	if suppressed > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("suppressed", suppressed))
	}
	return h.next.Handle(ctx, r)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &handler{next: h.next.WithAttrs(as), s: h.s}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name), s: h.s}
}

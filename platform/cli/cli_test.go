package cli_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"tsbank/platform/cli"
)

func TestLogLevelIsReadInAnyCaseAndABadOneIsRefused(t *testing.T) {
	for in, want := range map[string]slog.Level{"": slog.LevelInfo, "debug": slog.LevelDebug, "INFO": slog.LevelInfo,
		"Warn": slog.LevelWarn, " error ": slog.LevelError} {
		if got, err := cli.ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"verbose", "warning", "4"} {
		if _, err := cli.ParseLevel(in); err == nil || !strings.Contains(err.Error(), "LOG_LEVEL") {
			t.Errorf("ParseLevel(%q) err = %v; want one naming LOG_LEVEL", in, err)
		}
	}
}

// TestTheLoggerKeepsItsLevelAndStillThrottlesRepeatedErrors: the trace handler sits under the
// throttle, so a burst of one error is still written once.
func TestTheLoggerKeepsItsLevelAndStillThrottlesRepeatedErrors(t *testing.T) {
	var buf bytes.Buffer
	log := cli.NewLogger(&buf, slog.LevelWarn)
	log.Info("not written")
	for range 100 {
		log.ErrorContext(context.Background(), "database away", "transfer_id", "t-1")
	}
	if got := strings.Count(buf.String(), "\n"); got != 1 || strings.Contains(buf.String(), "not written") {
		t.Fatalf("log = %q; want one line, the first error", buf.String())
	}
}

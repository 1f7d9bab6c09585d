package logthrottle_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"tsbank/platform/logthrottle"
)

// TestARepeatedErrorIsWrittenOncePerPeriodWithTheCountOfTheOthers: 1,000 identical errors in a
// burst are one line, and the next line after the period says how many were left out; another
// message, and info lines, are not held back by it.
func TestARepeatedErrorIsWrittenOncePerPeriodWithTheCountOfTheOthers(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(logthrottle.New(slog.NewJSONHandler(&buf, nil), 200*time.Millisecond)).With("service", "coordinator")
	for range 1000 {
		log.Error("internal error", "err", "connection refused")
		log.Info("transfer", "id", "t-1")
	}
	log.Warn("another warning")
	time.Sleep(250 * time.Millisecond) // one period
	log.Error("internal error", "err", "connection refused")

	var errorsWritten, infos, warnings int
	var suppressed float64
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		switch rec["msg"] {
		case "internal error":
			errorsWritten++
			if n, ok := rec["suppressed"].(float64); ok {
				suppressed = n
			}
		case "transfer":
			infos++
		case "another warning":
			warnings++
		}
		if rec["service"] != "coordinator" {
			t.Errorf("a line lost its logger's attributes: %s", line)
		}
	}
	if errorsWritten != 2 || suppressed != 999 || infos != 1000 || warnings != 1 {
		t.Fatalf("errors written %d (want 2), suppressed %v (want 999), infos %d (want 1000), other warnings %d (want 1)",
			errorsWritten, suppressed, infos, warnings)
	}
}

package testkit

import (
	"slices"
	"testing"
	"time"
)

// ReportLatency reports the p50 and p99 of latencies, in milliseconds, as benchmark metrics.
func ReportLatency(b *testing.B, latencies []time.Duration) {
	if len(latencies) == 0 {
		return
	}
	sorted := slices.Clone(latencies)
	slices.Sort(sorted)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(sorted[len(sorted)/2]), "p50_ms")
	b.ReportMetric(ms(sorted[len(sorted)*99/100]), "p99_ms")
}

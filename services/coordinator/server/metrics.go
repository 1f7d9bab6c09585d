package server

import (
	"time"

	"tsbank/platform/metrics"
)

// transferMetrics implements transfer.Metrics with Prometheus metrics.
type transferMetrics struct {
	outcomes *metrics.CounterVec
	phases   *metrics.HistogramVec
	inFlight *metrics.Gauge
	resent   *metrics.Counter
}

func newTransferMetrics(reg *metrics.Registry) *transferMetrics {
	return &transferMetrics{
		outcomes: reg.Counter("tsbank_transfers_total", "Transfers decided, by outcome and abort reason.", "outcome", "reason"),
		phases: reg.Histogram("tsbank_transfer_phase_seconds", "Time in each phase of a transfer: log, prepare, decide, commit.",
			metrics.DefaultLatencyBuckets, "phase"),
		inFlight: reg.Gauge("tsbank_transfers_in_flight", "Transfers this instance is driving now.").With(),
		resent:   reg.Counter("tsbank_transfer_resends_total", "Decisions re-sent to legs that had not acknowledged them.").With(),
	}
}

func (m *transferMetrics) Phase(name string, d time.Duration) {
	m.phases.With(name).Observe(d.Seconds())
}
func (m *transferMetrics) Outcome(outcome, reason string) { m.outcomes.With(outcome, reason).Inc() }
func (m *transferMetrics) Resent(legs int)                { m.resent.Add(float64(legs)) }
func (m *transferMetrics) InFlight(delta int)             { m.inFlight.Add(float64(delta)) }

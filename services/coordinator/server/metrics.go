package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"tsbank/contract"
	"tsbank/platform/ops"
)

// transferMetrics implements transfer.Metrics with Prometheus metrics.
type transferMetrics struct {
	outcomes *prometheus.CounterVec
	phases   *prometheus.HistogramVec
	inFlight prometheus.Gauge
	resent   prometheus.Counter
}

func newTransferMetrics(reg prometheus.Registerer) *transferMetrics {
	f := promauto.With(reg)
	return &transferMetrics{
		outcomes: f.NewCounterVec(prometheus.CounterOpts{Name: "tsbank_transfers_total",
			Help: "Transfers decided, by outcome and abort reason."}, []string{"outcome", "reason"}),
		phases: f.NewHistogramVec(prometheus.HistogramOpts{Name: "tsbank_transfer_phase_seconds",
			Help: "Time in each phase of a transfer: log, prepare, decide, commit.", Buckets: ops.LatencyBuckets}, []string{"phase"}),
		inFlight: f.NewGauge(prometheus.GaugeOpts{Name: "tsbank_transfers_in_flight",
			Help: "Transfers this instance is driving now."}),
		resent: f.NewCounter(prometheus.CounterOpts{Name: "tsbank_transfer_resends_total",
			Help: "Decisions re-sent to legs that had not acknowledged them."}),
	}
}

func (m *transferMetrics) Phase(name string, d time.Duration) {
	m.phases.WithLabelValues(name).Observe(d.Seconds())
}
func (m *transferMetrics) Outcome(outcome contract.TransferState, reason contract.Code) {
	m.outcomes.WithLabelValues(string(outcome), string(reason)).Inc()
}
func (m *transferMetrics) Resent(legs int)    { m.resent.Add(float64(legs)) }
func (m *transferMetrics) InFlight(delta int) { m.inFlight.Add(float64(delta)) }

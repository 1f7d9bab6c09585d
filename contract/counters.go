package contract

import "time"

// The bank's counters (docs/adr/0032): committed transfers and their volume per UTC day,
// bank-wide and per paying node, each a JetStream counter (a stream with counters enabled: a
// message's body is the subject's running total, {"val":"…"}, and a publish with the header
// Nats-Incr adds to it). The history keeps them as it ingests the events.
const (
	CountersStream   = "TSBANK_COUNTERS"
	CountersSubjects = "bank.counters.>"
)

// TransfersCounter counts the transfers committed on day (2026-12-01); with node, those paid from
// its accounts: bank.counters.<day>.transfers or bank.counters.<day>.node.<node>.transfers.
func TransfersCounter(day, node string) string { return counter(day, node, "transfers") }

// VolumeCounter sums, in minor units of currency, the amounts those transfers moved:
// bank.counters.<day>[.node.<node>].volume.<currency>.
func VolumeCounter(day, node, currency string) string {
	return counter(day, node, "volume."+currency)
}

func counter(day, node, what string) string {
	if node == "" {
		return "bank.counters." + day + "." + what
	}
	return "bank.counters." + day + ".node." + node + "." + what
}

// CounterDay is the day token of t: its UTC date.
func CounterDay(t time.Time) string { return t.UTC().Format(time.DateOnly) }

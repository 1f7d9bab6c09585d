package contract

import "time"

// SubjectOverview answers the Observer's view of the whole bank as JSON (Overview), for scripts:
// the same data as its web page. Operators only.
const SubjectOverview = "bank.overview"

// Overview is the bank as a whole at one moment: its nodes, the requests per endpoint, the
// transfers in flight and in doubt, the two-phase commit's phases, the history's lag and the NATS
// servers, with the recent past of the figures that chart well (Samples, oldest first).
type Overview struct {
	At        time.Time          `json:"at"`
	Nodes     []NodeOverview     `json:"nodes"`
	Endpoints []EndpointOverview `json:"endpoints"`
	Transfers TransfersOverview  `json:"transfers"`
	Phases    map[string]float64 `json:"phases_ms"` // mean of each 2PC phase since the last sample, milliseconds
	History   HistoryOverview    `json:"history"`
	NATS      []NATSOverview     `json:"nats"`
	Samples   []OverviewSample   `json:"samples"`
	// Problems lists the sources that could not be read for this overview: what it shows of
	// them is missing, not zero.
	Problems []string `json:"problems,omitempty"`
}

// NodeOverview is one account node that ever ran.
type NodeOverview struct {
	Name      string    `json:"name"`
	Live      bool      `json:"live"` // its heartbeat is fresh
	Version   string    `json:"version,omitempty"`
	StartedAt time.Time `json:"started_at,omitzero"`
	Holder    string    `json:"holder,omitempty"` // the process that holds its lease
	Epoch     int64     `json:"epoch,omitempty"`  // the lease's fencing epoch
	Accounts  int       `json:"accounts"`
	Outbox    *float64  `json:"outbox_unsent,omitempty"` // events not yet published, when its metrics are scraped
}

// EndpointOverview is one endpoint of one service, summed over its instances.
type EndpointOverview struct {
	Service   string  `json:"service"`
	Endpoint  string  `json:"endpoint"`
	Requests  int     `json:"requests"`
	Errors    int     `json:"errors"`
	Rate      float64 `json:"rate"`       // requests per second since the last sample
	ErrorRate float64 `json:"error_rate"` // error replies per second since the last sample
	AverageMs float64 `json:"average_ms"`
	LastError string  `json:"last_error,omitempty"`
}

// TransfersOverview counts what the coordinator has not finished.
type TransfersOverview struct {
	InFlight int `json:"in_flight"` // logged, no decision yet
	InDoubt  int `json:"in_doubt"`  // decided, a leg not acknowledged
	Payments int `json:"payments"`  // payments not done
}

// HistoryOverview is how far the history is behind the events stream.
type HistoryOverview struct {
	Lag     uint64 `json:"lag"`     // events on the stream not yet delivered to the history
	Pending int    `json:"pending"` // delivered and not yet acknowledged
}

// NATSOverview is one NATS server, from its monitoring endpoint.
type NATSOverview struct {
	Name        string  `json:"name"`
	URL         string  `json:"url"`
	Up          bool    `json:"up"`
	Version     string  `json:"version,omitempty"`
	Connections int     `json:"connections"`
	InMsgsRate  float64 `json:"in_msgs_rate"`
	OutMsgsRate float64 `json:"out_msgs_rate"`
	MemBytes    int64   `json:"mem_bytes"`
	CPU         float64 `json:"cpu"`
}

// OverviewSample is one moment of the charted figures.
type OverviewSample struct {
	At        time.Time          `json:"at"`
	Rate      float64            `json:"rate"`       // requests per second, all endpoints
	ErrorRate float64            `json:"error_rate"` // error replies per second
	InFlight  int                `json:"in_flight"`
	InDoubt   int                `json:"in_doubt"`
	Phases    map[string]float64 `json:"phases_ms"`
	Outbox    map[string]float64 `json:"outbox_unsent"` // per node
	Lag       uint64             `json:"lag"`
}

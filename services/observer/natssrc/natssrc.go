// Package natssrc is the Observer's sources (observer.Sources) in a running bank: requests on the
// bank's own subjects, JetStream reads, and HTTP reads of the services' /metrics and the NATS
// servers' monitoring.
package natssrc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/services/observer/observer"
)

// Sources implements observer.Sources.
type Sources struct {
	NC *nats.Conn
	// Scrape names each service instance whose /metrics to read: a node's name (for its outbox),
	// "coordinator", … -> its base URL (http://host:port).
	Scrape map[string]string
	// Monitors are the NATS servers' monitoring URLs (http://host:8222).
	Monitors []string
	// StatsWait is how long to gather `nats micro stats` replies: every instance answers.
	StatsWait time.Duration

	c    *client.Client
	js   jetstream.JetStream
	http *http.Client
}

// New returns the sources over nc.
func New(nc *nats.Conn, scrape map[string]string, monitors []string) (*Sources, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	return &Sources{NC: nc, Scrape: scrape, Monitors: monitors, StatsWait: 300 * time.Millisecond,
		c: client.New(nc), js: js, http: &http.Client{Timeout: 2 * time.Second}}, nil
}

// LiveNodes implements observer.Sources.
func (s *Sources) LiveNodes(ctx context.Context) ([]contract.Node, error) {
	l, err := s.c.Nodes(ctx)
	return l.Nodes, err
}

// KnownNodes implements observer.Sources: the node.* keys of the registry, from its stream's
// state (a read: listing keys with the KV client would create a consumer).
func (s *Sources) KnownNodes(ctx context.Context) ([]string, error) {
	return s.keys(ctx, contract.AccountsBucket, contract.KnownNodeKey("")+"*")
}

func (s *Sources) keys(ctx context.Context, bucket, filter string) ([]string, error) {
	stream, err := s.js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return nil, err
	}
	prefix := "$KV." + bucket + "."
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(prefix+filter))
	if err != nil {
		return nil, err
	}
	var out []string
	for subject := range info.State.Subjects {
		key := strings.TrimPrefix(subject, prefix)
		out = append(out, strings.TrimPrefix(key, contract.KnownNodeKey("")))
	}
	slices.Sort(out)
	return out, nil
}

// Accounts implements observer.Sources, paging through bank.accounts.list.
func (s *Sources) Accounts(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	req := contract.ListRequest{Limit: 1000}
	for range 100 { // at most 100,000 accounts are counted
		page, err := s.c.List(ctx, req)
		if err != nil {
			return out, err
		}
		for _, a := range page.Accounts {
			out[a.Node]++
		}
		if page.Next == "" {
			if page.Partial {
				return out, fmt.Errorf("nodes %v did not answer", page.Unavailable)
			}
			return out, nil
		}
		req.After = page.Next
	}
	return out, errors.New("more than 100,000 accounts: counted the first 100,000")
}

// Stats implements observer.Sources: `$SRV.STATS`, answered by every instance of every service.
func (s *Sources) Stats(ctx context.Context) ([]observer.EndpointStats, error) {
	inbox := s.NC.NewRespInbox()
	sub, err := s.NC.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if err := s.NC.PublishRequest("$SRV.STATS", inbox, nil); err != nil {
		return nil, err
	}
	var out []observer.EndpointStats
	deadline := time.Now().Add(s.StatsWait)
	for {
		msg, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			return out, nil // the wait is over: every instance that answers in time has
		}
		var st micro.Stats
		if json.Unmarshal(msg.Data, &st) != nil {
			continue
		}
		for _, e := range st.Endpoints {
			out = append(out, observer.EndpointStats{Service: st.Name, Instance: st.ID, Endpoint: e.Name,
				Requests: e.NumRequests, Errors: e.NumErrors, ProcessingTime: e.ProcessingTime, LastError: e.LastError})
		}
	}
}

// Pending implements observer.Sources.
func (s *Sources) Pending(ctx context.Context) (contract.PendingList, error) {
	return s.c.PendingTransfers(ctx)
}

// HistoryLag implements observer.Sources: the history consumer's position on the events stream.
func (s *Sources) HistoryLag(ctx context.Context) (uint64, int, error) {
	c, err := s.js.Consumer(ctx, contract.EventsStream, contract.HistoryConsumer)
	if err != nil {
		return 0, 0, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0, 0, err
	}
	return info.NumPending, info.NumAckPending, nil
}

// Metrics implements observer.Sources, reading each scrape target's /metrics.
func (s *Sources) Metrics(ctx context.Context) (observer.Metrics, error) {
	m := observer.Metrics{PhaseSum: map[string]float64{}, PhaseCount: map[string]float64{}, Outbox: map[string]float64{}}
	var errs []error
	for name, base := range s.Scrape {
		families, err := s.scrape(ctx, base)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		if f := families["tsbank_transfer_phase_seconds"]; f != nil {
			for _, metric := range f.Metric {
				phase := label(metric, "phase")
				m.PhaseSum[phase] += metric.GetHistogram().GetSampleSum()
				m.PhaseCount[phase] += float64(metric.GetHistogram().GetSampleCount())
			}
		}
		if f := families["tsbank_outbox_unsent"]; f != nil && len(f.Metric) > 0 {
			m.Outbox[name] = f.Metric[0].GetGauge().GetValue()
		}
	}
	return m, errors.Join(errs...)
}

func (s *Sources) scrape(ctx context.Context, base string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(resp.Body)
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// NATS implements observer.Sources: each server's /varz. A server that does not answer is listed,
// down.
func (s *Sources) NATS(ctx context.Context) ([]observer.NATSServer, error) {
	var out []observer.NATSServer
	for _, url := range s.Monitors {
		srv := observer.NATSServer{URL: url}
		var v struct {
			ServerName  string  `json:"server_name"`
			Version     string  `json:"version"`
			Connections int     `json:"connections"`
			InMsgs      int64   `json:"in_msgs"`
			OutMsgs     int64   `json:"out_msgs"`
			Mem         int64   `json:"mem"`
			CPU         float64 `json:"cpu"`
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(url, "/")+"/varz", nil)
		if err == nil {
			var resp *http.Response
			if resp, err = s.http.Do(req); err == nil {
				err = json.NewDecoder(resp.Body).Decode(&v)
				resp.Body.Close()
			}
		}
		if err == nil {
			srv = observer.NATSServer{Name: v.ServerName, URL: url, Version: v.Version, Up: true, Connections: v.Connections,
				InMsgs: v.InMsgs, OutMsgs: v.OutMsgs, MemBytes: v.Mem, CPU: v.CPU}
		}
		out = append(out, srv)
	}
	return out, nil
}

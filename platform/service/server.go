package service

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/nats-io/nuid"
)

// Server is a NATS service as nats.go's micro package defines them, so that `nats micro ls`,
// `info`, `stats` and `ping` see it: it answers $SRV.PING, $SRV.INFO and $SRV.STATS (for every
// service, for its name, and for its id) and subscribes each endpoint in the queue group "q".
//
// It is served here rather than by micro because micro times a request from its delivery to its
// handler's return, and counts an error only if the handler answered one before returning: with
// the handlers run concurrently (Async), its $SRV.STATS showed the hand-off, 9 µs for a 15 ms
// transfer, and no error ever (issue 12). Here an endpoint's figures are recorded when its
// request is done (Observe, which the Instr wrapping the handlers calls): from receipt, queueing
// included, to the reply.
type Server struct {
	nc      *nats.Conn
	cfg     Config
	id      string
	started time.Time

	mu        sync.Mutex
	endpoints []*endpoint
	byName    map[string]*endpoint
	subs      []*nats.Subscription
	stopped   bool
}

// Config describes a service as micro.Config does.
type Config struct {
	Name        string
	Version     string
	Description string
	Metadata    map[string]string
}

type endpoint struct {
	info  micro.EndpointInfo
	stats micro.EndpointStats
}

// QueueGroup is the queue group of every endpoint that is not a fan-out, micro's default.
const QueueGroup = "q"

// Start begins answering the monitoring subjects of a service described by cfg on nc.
func Start(nc *nats.Conn, cfg Config) (*Server, error) {
	if cfg.Name == "" || cfg.Version == "" {
		return nil, errors.New("service: a name and a version are required")
	}
	s := &Server{nc: nc, cfg: cfg, id: nuid.Next(), started: time.Now().UTC(), byName: map[string]*endpoint{}}
	for _, v := range []struct {
		verb   micro.Verb
		answer func() any
	}{
		{micro.PingVerb, s.ping},
		{micro.InfoVerb, s.info},
		{micro.StatsVerb, s.stats},
	} {
		for _, kind := range [][2]string{{"", ""}, {cfg.Name, ""}, {cfg.Name, s.id}} {
			subject, err := micro.ControlSubject(v.verb, kind[0], kind[1])
			if err != nil {
				return nil, err
			}
			answer := v.answer
			sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
				data, _ := json.Marshal(answer())
				_ = m.Respond(data)
			})
			if err != nil {
				_ = s.Stop()
				return nil, fmt.Errorf("subscribe %s: %w", subject, err)
			}
			s.subs = append(s.subs, sub)
		}
	}
	return s, nil
}

// ID is the instance's id, as `nats micro ls` shows it.
func (s *Server) ID() string { return s.id }

// Name is the service's name.
func (s *Server) Name() string { return s.cfg.Name }

// Add subscribes the endpoint name on subject, in the queue group unless fanout, with h.
func (s *Server) Add(name, subject string, fanout bool, metadata map[string]string, h micro.Handler) error {
	queue := QueueGroup
	if fanout {
		queue = ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("service: stopped")
	}
	if _, dup := s.byName[name]; dup {
		return fmt.Errorf("service: endpoint %s added twice", name)
	}
	sub, err := s.nc.QueueSubscribe(subject, queue, func(m *nats.Msg) { h.Handle(&msgRequest{msg: m}) })
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", subject, err)
	}
	e := &endpoint{
		info:  micro.EndpointInfo{Name: name, Subject: subject, QueueGroup: queue, Metadata: metadata},
		stats: micro.EndpointStats{Name: name, Subject: subject, QueueGroup: queue},
	}
	s.endpoints, s.byName[name], s.subs = append(s.endpoints, e), e, append(s.subs, sub)
	return nil
}

// Observe records one finished request of endpoint: how long it took, and the error it was
// answered with (code and description; empty when it succeeded).
func (s *Server) Observe(name string, took time.Duration, code, description string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.byName[name]
	if e == nil {
		return
	}
	st := &e.stats
	st.NumRequests++
	st.ProcessingTime += took
	st.AverageProcessingTime = st.ProcessingTime / time.Duration(st.NumRequests)
	if code != "" {
		st.NumErrors++
		st.LastError = code + ":" + description
	}
}

// Stop drains every subscription: the endpoints take no new request, and those delivered are
// still handled.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	var errs []error
	for _, sub := range s.subs {
		if err := sub.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Server) identity() micro.ServiceIdentity {
	return micro.ServiceIdentity{Name: s.cfg.Name, ID: s.id, Version: s.cfg.Version, Metadata: s.cfg.Metadata}
}

func (s *Server) ping() any {
	return micro.Ping{ServiceIdentity: s.identity(), Type: micro.PingResponseType}
}

func (s *Server) info() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	info := micro.Info{ServiceIdentity: s.identity(), Type: micro.InfoResponseType, Description: s.cfg.Description,
		Endpoints: make([]micro.EndpointInfo, 0, len(s.endpoints))}
	for _, e := range s.endpoints {
		info.Endpoints = append(info.Endpoints, e.info)
	}
	return info
}

func (s *Server) stats() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := micro.Stats{ServiceIdentity: s.identity(), Type: micro.StatsResponseType, Started: s.started,
		Endpoints: make([]*micro.EndpointStats, 0, len(s.endpoints))}
	for _, e := range s.endpoints {
		es := e.stats
		st.Endpoints = append(st.Endpoints, &es)
	}
	return st
}

// msgRequest is a micro.Request over a NATS message, for handlers that run on the subscription's
// goroutine (an Instr without Async answers through it).
type msgRequest struct{ msg *nats.Msg }

func (r *msgRequest) Respond(data []byte, opts ...micro.RespondOpt) error {
	m := &nats.Msg{Data: data}
	for _, opt := range opts {
		opt(m)
	}
	if err := r.msg.RespondMsg(m); err != nil {
		return fmt.Errorf("%w: %s", micro.ErrRespond, err)
	}
	return nil
}

func (r *msgRequest) RespondJSON(v any, opts ...micro.RespondOpt) error {
	data, err := json.Marshal(v)
	if err != nil {
		return micro.ErrMarshalResponse
	}
	return r.Respond(data, opts...)
}

func (r *msgRequest) Error(code, description string, data []byte, opts ...micro.RespondOpt) error {
	if code == "" {
		return fmt.Errorf("%w: error code", micro.ErrArgRequired)
	}
	if description == "" {
		return fmt.Errorf("%w: description", micro.ErrArgRequired)
	}
	all := append([]micro.RespondOpt{func(m *nats.Msg) {
		m.Header = nats.Header{micro.ErrorHeader: []string{description}, micro.ErrorCodeHeader: []string{code}}
	}}, opts...)
	return r.Respond(data, all...)
}

func (r *msgRequest) Data() []byte           { return r.msg.Data }
func (r *msgRequest) Headers() micro.Headers { return micro.Headers(r.msg.Header) }
func (r *msgRequest) Subject() string        { return r.msg.Subject }
func (r *msgRequest) Reply() string          { return r.msg.Reply }

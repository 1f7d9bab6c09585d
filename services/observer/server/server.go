// Package server wires the Observer: NATS, the sources, the collecting loop, bank.overview and
// the web page. main and the local stack both call Start.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/micro"

	"tsbank/contract"
	"tsbank/platform/env"
	"tsbank/platform/lifecycle"
	"tsbank/platform/service"
	"tsbank/services/observer/natssrc"
	"tsbank/services/observer/observer"
	"tsbank/services/observer/web"
)

// Version of the Observer, shown by `nats micro ls`.
const Version = "0.1.0"

// Config of the Observer; see the README.
type Config struct {
	lifecycle.Config               // NATS_*, HTTP_ADDR (/healthz, /readyz, /metrics); no database
	PageAddr         string        // OBSERVER_ADDR, default :8090: the web page
	Interval         time.Duration // OBSERVER_INTERVAL, default 2s: how often the overview is collected
	Keep             int           // OBSERVER_KEEP, default 150: samples charted (5 minutes at 2 s)
	Scrape           map[string]string
	Monitors         []string
}

// ConfigFromEnv reads the configuration through getenv. OBSERVER_SCRAPE lists the /metrics to
// read as name=url pairs (a node's name for its outbox, "coordinator" for the 2PC phases);
// NATS_MONITOR_URLS the NATS servers' monitoring, comma-separated.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	r := env.New(getenv)
	c := Config{
		Config:   lifecycle.ReadConfigWithoutDatabase(r, 16),
		PageAddr: r.String("OBSERVER_ADDR", ":8090"),
		Interval: r.Duration("OBSERVER_INTERVAL", 2*time.Second),
		Keep:     r.Int("OBSERVER_KEEP", 150, 2, 10000),
		Scrape:   map[string]string{},
	}
	for _, pair := range strings.FieldsFunc(r.String("OBSERVER_SCRAPE", ""), func(c rune) bool { return c == ',' }) {
		name, url, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || name == "" || !strings.HasPrefix(url, "http") {
			r.Check(fmt.Errorf("OBSERVER_SCRAPE: %q is not name=http://host:port", pair))
			continue
		}
		c.Scrape[name] = url
	}
	for _, u := range strings.FieldsFunc(r.String("NATS_MONITOR_URLS", ""), func(c rune) bool { return c == ',' }) {
		c.Monitors = append(c.Monitors, strings.TrimSpace(u))
	}
	return c, r.Err()
}

// LogValue logs the configuration with its secrets masked.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(append(c.LogAttrs(), slog.String("page", c.PageAddr), slog.Duration("interval", c.Interval),
		slog.Any("scrape", c.Scrape), slog.Any("nats_monitors", c.Monitors))...)
}

// Server is a running Observer.
type Server struct {
	*lifecycle.Service
	Observer *observer.Observer
	page     *http.Server
	pageAddr string
}

// PageAddr is the address the web page is served on.
func (s *Server) PageAddr() string { return s.pageAddr }

// Start connects, collects the first overview, and serves bank.overview and the page.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (_ *Server, err error) {
	s, err := lifecycle.Open(ctx, "observer", cfg.Config, log)
	if err != nil {
		return nil, err
	}
	srv := &Server{Service: s}
	defer func() {
		if err != nil {
			srv.Stop(5 * time.Second)
		}
	}()
	sources, err := natssrc.New(s.NC, cfg.Scrape, cfg.Monitors)
	if err != nil {
		return nil, err
	}
	srv.Observer = &observer.Observer{Sources: sources, Now: time.Now, Keep: cfg.Keep}
	srv.Observer.Collect(ctx, cfg.Interval)
	s.Go(func(ctx context.Context) { srv.Observer.Run(ctx, cfg.Interval) })

	ln, err := net.Listen("tcp", cfg.PageAddr)
	if err != nil {
		return nil, fmt.Errorf("OBSERVER_ADDR %s: %w", cfg.PageAddr, err)
	}
	srv.pageAddr = ln.Addr().String()
	srv.page = &http.Server{Handler: web.Handler(srv.Observer.Latest), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.page.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("observer page", "err", err)
		}
	}()
	if err := s.Serve(service.Config{Name: "observer", Version: Version,
		Description: "TSBank Observer: the whole bank at a glance (bank.overview, and a web page)"},
		cfg.MaxInFlight, func(svc *service.Server, wrap func(string, micro.Handler) micro.Handler) error {
			return service.Register(svc, contract.RoleObserver, nil, []service.Handler{
				service.Endpoint("overview", "The whole bank as JSON: nodes, requests, transfers in flight and in doubt, 2PC phases, history lag, NATS servers",
					service.Typed(cfg.Interval, srv.overview)),
			}, wrap)
		}); err != nil {
		return nil, err
	}
	log.Info("observer page", "addr", srv.pageAddr)
	return srv, nil
}

func (s *Server) overview(context.Context, micro.Request, struct{}) (any, *contract.Error) {
	ov, ok := s.Observer.Latest()
	if !ok {
		return nil, contract.Errorf(contract.CodeNodeUnavailable, "the first overview is being collected: ask again in a moment")
	}
	return ov, nil
}

// Stop stops the page and the service.
func (s *Server) Stop(timeout time.Duration) {
	if s.page != nil {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		_ = s.page.Shutdown(ctx)
		cancel()
	}
	s.Service.Stop(timeout)
}

// Run starts the Observer and serves until ctx ends.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	s, err := Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	<-ctx.Done()
	s.Stop(10 * time.Second)
	return nil
}

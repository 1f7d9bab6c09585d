package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"tsbank/platform/lifecycle"
	"tsbank/platform/natsconn"
	"tsbank/platform/service"
	"tsbank/services/auth/callout"
	"tsbank/services/auth/customer"
	"tsbank/services/auth/natsapi"
	"tsbank/services/auth/pgstore"
)

// calloutQueue is the queue group of the callout subscription: each login is answered by one of
// the running instances.
const calloutQueue = "tsbank-auth"

// Server is a running auth instance.
type Server struct {
	*lifecycle.Service
}

// Start connects, answers the auth callout and serves the directory. The lifecycle's connection
// is the BANK one (the micro service lives there); the callout has a connection of its own, as
// the auth user, drained when the service stops.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (_ *Server, err error) {
	issuer, err := cfg.Issuer()
	if err != nil {
		return nil, fmt.Errorf("AUTH_ISSUER_SEED: %w", err)
	}
	hasher, err := customer.NewHasher(cfg.PasswordCost)
	if err != nil {
		return nil, err
	}
	bank := cfg.Config
	bank.NATSUser, bank.NATSPassword = cfg.BankUser, cfg.BankPassword
	s, err := lifecycle.Open(ctx, "auth", bank, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.Stop(5 * time.Second)
		}
	}()
	dir := &customer.Directory{Store: pgstore.New(s.Pool), Hasher: hasher}

	authNC, err := natsconn.Connect(ctx, cfg.NATSURL, "tsbank-auth-callout", cfg.NATSUser, cfg.NATSPassword, log)
	if err != nil {
		return nil, fmt.Errorf("callout connection: %w", err)
	}
	// Registered first, so that the connection is drained however Start ends.
	s.Go(func(ctx context.Context) {
		<-ctx.Done()
		drain, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		natsconn.Drain(drain, authNC)
	})
	logins := promauto.With(s.Metrics).NewCounterVec(prometheus.CounterOpts{Name: "tsbank_auth_logins_total",
		Help: "Customer logins answered, by outcome (accepted, refused, failed)."}, []string{"outcome"})
	h := &callout.Handler{
		Directory: dir, Issuer: issuer, Account: cfg.CustomersAccount, TTL: cfg.LoginTTL,
		Timeout: cfg.RequestTimeout, Log: log, Outcome: func(o string) { logins.WithLabelValues(o).Inc() },
	}
	// A password check is slow on purpose, so logins are checked by a few workers at once
	// rather than one after the other as a plain subscription would.
	requests := make(chan *nats.Msg, 4*cfg.CalloutWorkers)
	if _, err := authNC.ChanQueueSubscribe(callout.Subject, calloutQueue, requests); err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", callout.Subject, err)
	}
	if err := authNC.Flush(); err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", callout.Subject, err)
	}
	for range cfg.CalloutWorkers {
		s.Go(func(ctx context.Context) {
			for {
				select {
				case <-ctx.Done():
					return
				case m := <-requests:
					h.Handle(m)
				}
			}
		})
	}

	api := &natsapi.API{Directory: dir, Log: log, Timeout: cfg.RequestTimeout}
	if err := s.Serve(service.Config{
		Name: "customers", Version: Version,
		Description: "TSBank customer directory: who may log in, which accounts are theirs",
	}, cfg.MaxInFlight, api.AddEndpoints); err != nil {
		return nil, err
	}
	return &Server{s}, nil
}

// Run starts the auth service and serves until ctx ends.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	s, err := Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	s.Run(ctx)
	return nil
}

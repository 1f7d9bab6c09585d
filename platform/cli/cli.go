// Package cli is the command line every TSBank service shares: `<service>` or `<service> serve`
// runs it until SIGINT or SIGTERM, `<service> migrate` applies its database's migrations to
// DATABASE_URL. Logs are JSON on stderr; any failure exits 1.
package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"tsbank/migrations"
)

// Main runs the command for service, whose database is a migrations set; serve reads the
// configuration and runs the service until ctx ends.
func Main(service, database string, serve func(ctx context.Context, log *slog.Logger) error) {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(os.Args[1:], database, serve, log); err != nil {
		log.Error(service, "err", err)
		os.Exit(1)
	}
}

func run(args []string, database string, serve func(context.Context, *slog.Logger) error, log *slog.Logger) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "migrate":
		url := os.Getenv("DATABASE_URL")
		if url == "" {
			return fmt.Errorf("DATABASE_URL is not set: it must name the %s database", database)
		}
		if err := migrations.Up(database, url); err != nil {
			return err
		}
		log.Info("database migrated", "database", database)
		return nil
	case "serve":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		return serve(ctx, log)
	}
	return fmt.Errorf("unknown command %q: use serve (the default) or migrate", cmd)
}

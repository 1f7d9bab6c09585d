// Command coordinator runs a TSBank transfer coordinator (`coordinator` or `coordinator serve`) or
// applies its database's migrations (`coordinator migrate`). Configuration is read from the
// environment; see the README. Several instances may share one database.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"tsbank/migrations"
	"tsbank/services/coordinator/server"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(os.Args[1:], log); err != nil {
		log.Error("coordinator", "err", err)
		os.Exit(1)
	}
}

func run(args []string, log *slog.Logger) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "migrate":
		url := os.Getenv("DATABASE_URL")
		if url == "" {
			return fmt.Errorf("DATABASE_URL is not set: it must name the coordinator's Postgres database")
		}
		if err := migrations.Up("coordinator", url); err != nil {
			return err
		}
		log.Info("coordinator database migrated")
		return nil
	case "serve":
		cfg, err := server.ConfigFromEnv(os.Getenv)
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		log.Info("starting", "config", cfg)
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		return server.Run(ctx, cfg, log)
	}
	return fmt.Errorf("unknown command %q: use serve (the default) or migrate", cmd)
}

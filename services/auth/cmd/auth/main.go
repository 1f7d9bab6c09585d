// Command auth runs the TSBank auth service (`auth` or `auth serve`): it answers the NATS
// server's auth callout for customers and serves the customer directory; `auth migrate` applies
// its database's migrations. Configuration is read from the environment; see the README.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"tsbank/migrations"
	"tsbank/platform/cli"
	"tsbank/services/auth/server"
)

func main() {
	cli.Main("auth", migrations.Migrator("auth"), func(ctx context.Context, log *slog.Logger) error {
		cfg, err := server.ConfigFromEnv(os.Getenv)
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		log.Info("starting", "config", cfg)
		return server.Run(ctx, cfg, log)
	})
}

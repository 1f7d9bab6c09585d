// Command coordinator runs the TSBank coordinator service (`coordinator` or `coordinator serve`) or applies its
// database's migrations (`coordinator migrate`). Configuration is read from the environment; see the
// README.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"tsbank/migrations"
	"tsbank/platform/cli"
	"tsbank/services/coordinator/server"
)

func main() {
	cli.Main("coordinator", migrations.Migrator("coordinator"), func(ctx context.Context, log *slog.Logger) error {
		cfg, err := server.ConfigFromEnv(os.Getenv)
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		log.Info("starting", "config", cfg)
		return server.Run(ctx, cfg, log)
	})
}

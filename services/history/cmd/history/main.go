// Command history runs the TSBank history service (`history` or `history serve`) or applies its
// database's migrations (`history migrate`). Configuration is read from the environment; see the
// README.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"tsbank/migrations"
	"tsbank/platform/cli"
	"tsbank/services/history/server"
)

func main() {
	cli.Main("history", migrations.Migrator("history"), func(ctx context.Context, log *slog.Logger) error {
		cfg, err := server.ConfigFromEnv(os.Getenv)
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		log.Info("starting", "config", cfg)
		return server.Run(ctx, cfg, log)
	})
}

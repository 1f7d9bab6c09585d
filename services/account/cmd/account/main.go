// Command account runs a TSBank account node (`account` or `account serve`) or applies its
// database's migrations (`account migrate`). Configuration is read from the environment; see the
// README.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"tsbank/migrations"
	"tsbank/platform/cli"
	"tsbank/services/account/server"
)

func main() {
	cli.Main("account", migrations.Migrator("account"), func(ctx context.Context, log *slog.Logger) error {
		cfg, err := server.ConfigFromEnv(os.Getenv)
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		log.Info("starting", "config", cfg)
		return server.Run(ctx, cfg, log)
	})
}

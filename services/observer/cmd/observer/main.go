// Command observer runs the TSBank Observer: a live view of the whole bank in a browser (at
// OBSERVER_ADDR) and as JSON on bank.overview. It has no database. Configuration is read from the
// environment; see the README.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"tsbank/platform/cli"
	"tsbank/services/observer/server"
)

func main() {
	cli.Main("observer", nil, func(ctx context.Context, log *slog.Logger) error {
		cfg, err := server.ConfigFromEnv(os.Getenv)
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		log.Info("starting", "config", cfg)
		return server.Run(ctx, cfg, log)
	})
}

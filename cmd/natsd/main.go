// Command natsd is the NATS server of TSBank's container deployment: nats-server, embedded from
// its Go module, run from a configuration file. It exists so that the image is built from this
// repository's own pinned, vendored modules, like the services, and so that it can answer a
// container health check (`natsd healthcheck`, which asks the monitoring port's /healthz) in an
// image that has no shell. It also serves the server's figures in the Prometheus format on
// /metrics of a port of its own (-metrics, :7777 unless set; "" for none), read in-process: the
// server has no such endpoint itself (ADR 0038).
//
//	natsd -c /etc/nats/nats.conf [-metrics :7777]
//	natsd healthcheck [monitor address, default 127.0.0.1:8222]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"tsbank/platform/cli"
	"tsbank/platform/env"
	"tsbank/platform/ops"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "natsd:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		addr := "127.0.0.1:8222"
		if len(args) > 1 {
			addr = args[1]
		}
		// JetStream must be up too: the services cannot start without it.
		return cli.Healthcheck(addr, "/healthz?js-enabled-only=true")
	}
	fs := flag.NewFlagSet("natsd", flag.ContinueOnError)
	config := fs.String("c", "/etc/nats/nats.conf", "configuration file")
	metricsAddr := fs.String("metrics", ":7777", `address of /metrics in the Prometheus format ("" for none)`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Variables such as $ACCOUNT_1_PASSWORD in the file are resolved from the environment; a
	// placeholder from .env.example is known to everyone, so the server refuses to start with one.
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		if strings.HasSuffix(name, "_PASSWORD") && env.IsExample(value) {
			return fmt.Errorf("%s is the placeholder from .env.example: generate real secrets with deploy/secrets.sh", name)
		}
	}
	opts, err := server.ProcessConfigFile(*config)
	if err != nil {
		return fmt.Errorf("config %s: %w", *config, err)
	}
	opts.NoSigs = true // this main handles SIGTERM itself, below
	ns, err := server.NewServer(opts)
	if err != nil {
		return err
	}
	ns.ConfigureLogger()
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		return fmt.Errorf("not ready after 30s")
	}
	if *metricsAddr != "" {
		reg := ops.NewRegistry()
		reg.MustRegister(newServerCollector(ns))
		metrics := ops.NewServer(*metricsAddr, reg, nil)
		if err := metrics.Start(); err != nil {
			ns.Shutdown()
			return fmt.Errorf("metrics %s: %w", *metricsAddr, err)
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = metrics.Shutdown(ctx)
		}()
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	// Lame-duck mode would spread clients over a cluster's other servers; alone, shut down.
	ns.Shutdown()
	ns.WaitForShutdown()
	return nil
}

// Command natsd is the NATS server of TSBank's container deployment: nats-server, embedded from
// its Go module, run from a configuration file. It exists so that the image is built from this
// repository's own pinned, vendored modules, like the services, and so that it can answer a
// container health check (`natsd healthcheck`, which asks the monitoring port's /healthz) in an
// image that has no shell.
//
//	natsd -c /etc/nats/nats.conf
//	natsd healthcheck [monitor address, default 127.0.0.1:8222]
package main

import (
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
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	// Lame-duck mode would spread clients over a cluster's other servers; alone, shut down.
	ns.Shutdown()
	ns.WaitForShutdown()
	return nil
}

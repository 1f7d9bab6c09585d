package natsconn

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tsbank/platform/provision"
)

// setUpFor bounds how long SetUp waits for JetStream to become ready.
const setUpFor = time.Minute

// SetUp runs fn, which binds the streams, buckets or consumers a service needs, until it
// succeeds or fails for good. A JetStream cluster that has just started does not answer, or
// answers "temporarily unavailable" or "insufficient resources", until its servers have met and
// elected their leaders; a service started with it waits here, up to a minute, instead of
// exiting and being restarted. An asset that does not exist is waited for as long as ctx lasts:
// no service may create one (platform/provision), so it says once what the operator must run
// and binds it as soon as it is there. Any other error (a permission denied, say) is returned at
// once.
func SetUp(ctx context.Context, log *slog.Logger, fn func(context.Context) error) error {
	give := time.Now().Add(setUpFor)
	missingSaid := false
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		err := fn(ctx)
		if err != nil && provision.Missing(err) {
			if !missingSaid {
				log.Error("a JetStream asset is missing; waiting for it", "err", err, "fix", provision.Hint)
				missingSaid = true
			}
			give = time.Now().Add(setUpFor)
		} else if err == nil || !Unavailable(err) || time.Now().Add(wait).After(give) {
			if err == nil && missingSaid {
				log.Info("the missing JetStream asset is there now")
			}
			return err
		} else {
			log.Warn("JetStream is not ready yet; trying again", "err", err, "in", wait)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// JetStream's error code for a stream or bucket that asks for more replicas than the servers it
// knows of: at start, the other servers may not have joined yet.
const insufficientResources jetstream.ErrorCode = 10023

// Unavailable tells whether err is one that JetStream gives while it cannot answer for a time:
// while it is starting, while a stream elects a new leader, while the connection moves to another
// server. Trying again later is the cure.
func Unavailable(err error) bool {
	// 503: JetStream is not ready, or a stream has no leader yet; 5xx in general: the server's
	// side of the cluster, not the request, is at fault, and it passes.
	var api *jetstream.APIError
	if errors.As(err, &api) && (api.Code >= 500 || api.ErrorCode == insufficientResources) {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrDisconnected)
}

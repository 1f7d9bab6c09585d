// Package natsconn connects a service to NATS the way every TSBank service does, and drains the
// connection on shutdown.
package natsconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/nats-io/nats.go"
)

// Reconnecting: a server that went away is tried again after reconnectWait (plus a jitter, so
// that every service does not come back in the same instant); another server of the cluster is
// tried at once. nats.go's default wait is 2 s, which alone used up most of a 3 s lease.
const (
	reconnectWait   = 250 * time.Millisecond
	reconnectJitter = 250 * time.Millisecond
)

// Connect connects to url as name (shown by the server's connection list), with credentials if
// user is set. While no server answers, or each closes the connection (a restart, a partition), it keeps trying (a bank service started before NATS, or
// during its restart, waits for it instead of exiting and being restarted in a loop), until ctx
// ends; any other error, such as refused credentials, is returned at once. Once connected it
// reconnects for ever, and /readyz says when it is cut off.
func Connect(ctx context.Context, url, name, user, password string, log *slog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		nats.ReconnectJitter(reconnectJitter, reconnectJitter),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil on a deliberate close
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
			subject := ""
			if s != nil {
				subject = s.Subject
			}
			log.Warn("nats error", "subject", subject, "err", err)
		}),
	}
	if user != "" {
		// Each user's replies come to an inbox of its own (its NATS permissions allow only that
		// one), so no other identity that may subscribe to inboxes can read them.
		opts = append(opts, nats.UserInfo(user, password), nats.CustomInboxPrefix(InboxPrefix(user)))
	}
	for wait := reconnectWait; ; wait = min(2*wait, 5*time.Second) {
		nc, err := nats.Connect(url, opts...)
		if err == nil {
			return nc, nil
		}
		if refused(err) {
			return nil, fmt.Errorf("nats %s: %w", url, err)
		}
		log.Warn("no NATS server answers yet; trying again", "url", url, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("nats %s: %w (%w)", url, err, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// refused tells whether a failed connect was refused for good (credentials, configuration) rather
// than cut short (no server listening, or a connection that closed during the handshake, as a
// server restarting or a network partition does): trying again would not cure it.
func refused(err error) bool {
	var badURL *url.Error
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrNkeysNotSupported) || errors.As(err, &badURL)
}

// InboxPrefix is the inbox prefix of user: `_INBOX_<user>`.
func InboxPrefix(user string) string { return "_INBOX_" + user }

// Drain drains nc (pending messages are handled, subscriptions end, then it closes) and waits
// for it to close, or closes it at once when ctx ends.
func Drain(ctx context.Context, nc *nats.Conn) {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		nc.Close()
		return
	}
	select {
	case <-closed:
	case <-ctx.Done():
		nc.Close()
	}
}

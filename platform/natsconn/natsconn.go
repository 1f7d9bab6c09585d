// Package natsconn connects a service to NATS the way every TSBank service does, and drains the
// connection on shutdown.
package natsconn

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"
)

// Connect connects to url as name (shown by the server's connection list), with credentials if
// user is set. It reconnects for ever: a bank service keeps trying, and /readyz says when it is
// cut off.
func Connect(url, name, user, password string, log *slog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
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
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", url, err)
	}
	return nc, nil
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

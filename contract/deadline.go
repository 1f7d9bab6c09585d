package contract

import "time"

// Deadlines and shedding (docs/adr/0028). A request carries the moment after which its sender no
// longer waits for it, and a service drops it unanswered if that moment passes before the service
// starts on it; a service too busy for a sender answers at once with CodeOverloaded and a hint.
const (
	// DeadlineHeader is the request's deadline, RFC 3339 with nanoseconds, UTC. The typed client
	// sets it from its context's deadline. A request without it (`nats req`) is given
	// DefaultDeadline from its receipt.
	DeadlineHeader = "Tsbank-Deadline"
	// RetryAfterHeader, on an overloaded reply, is how long to wait before sending again, as a Go
	// duration ("100ms").
	RetryAfterHeader = "Tsbank-Retry-After"
	// CodeOverloaded says the service has as many of this sender's requests waiting as it
	// accepts; nothing of this one was done. Send it again, with its id, after RetryAfterHeader.
	CodeOverloaded = "overloaded"
	// DefaultDeadline is the life of a request that names no deadline: the nats CLI's default
	// timeout.
	DefaultDeadline = 5 * time.Second
)

// FormatDeadline is the DeadlineHeader value of t.
func FormatDeadline(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// ParseDeadline reads a DeadlineHeader value.
func ParseDeadline(v string) (time.Time, error) { return time.Parse(time.RFC3339Nano, v) }

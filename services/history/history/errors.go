package history

import (
	"errors"
	"fmt"
)

// Kinds of refusal. A use case refuses with an *Error of one of these kinds, which natsapi turns
// into the reply's code; any other error is the history's own failure.
var (
	ErrBadRequest      = errors.New("bad request")
	ErrInvalidID       = errors.New("invalid id")
	ErrInvalidAmount   = errors.New("invalid amount")
	ErrInvalidCursor   = errors.New("invalid cursor")
	ErrAccountNotFound = errors.New("no such account")
	ErrHistoryBehind   = errors.New("the history has not received every event yet")
	// ErrNodeUnavailable is a node that gave no answer, or an answer other than the one asked:
	// the Nodes port marks such failures with it, and a refusal of this kind carries the node's
	// error (Error.Node), whose own code the reply passes on.
	ErrNodeUnavailable = errors.New("a node did not answer")
)

// Error is a use case's refusal: its kind, the message for the client and, when a node's
// failure is the cause, that failure.
type Error struct {
	Kind    error
	Message string
	Node    error
}

func (e *Error) Error() string { return e.Message }

func (e *Error) Unwrap() []error {
	if e.Node == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Node}
}

// refuse returns a refusal of kind with a formatted message.
func refuse(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

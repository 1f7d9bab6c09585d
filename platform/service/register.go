package service

import (
	"fmt"

	"github.com/nats-io/nats.go/micro"

	"tsbank/contract"
)

// Handler serves the endpoint of the table named Name.
type Handler struct {
	Name        string
	Description string // shown by `nats micro info`
	Handle      micro.HandlerFunc
}

// Register adds to svc every endpoint of the table (contract.Endpoints) that role serves, with its
// subject's tokens bound from values (an account node binds {node} to its own name; the rest stay
// wildcards), each handler decorated by wrap. It fails when the table names an endpoint of role
// that has no handler, or a handler names none, so that what a service serves and what the NATS
// permissions allow cannot drift apart.
func Register(svc *Server, role contract.Role, values map[string]string, handlers []Handler,
	wrap func(string, micro.Handler) micro.Handler) error {
	byName := map[string]Handler{}
	for _, h := range handlers {
		byName[h.Name] = h
	}
	for _, e := range contract.ServedBy(role) {
		h, ok := byName[e.Name]
		if !ok {
			return fmt.Errorf("endpoint %s (%s) of %s has no handler", e.Name, e.Subject, role)
		}
		delete(byName, e.Name)
		subject := contract.Wildcard(contract.Bind(e.Subject, values))
		if err := svc.Add(e.Name, subject, e.Fanout, map[string]string{"description": h.Description}, wrap(e.Name, h.Handle)); err != nil {
			return fmt.Errorf("endpoint %s: %w", e.Name, err)
		}
	}
	for name := range byName {
		return fmt.Errorf("handler %s serves no endpoint of %s in the table", name, role)
	}
	return nil
}

// Endpoint is the handler h of the endpoint named name.
func Endpoint(name, description string, h micro.HandlerFunc) Handler {
	return Handler{Name: name, Description: description, Handle: h}
}

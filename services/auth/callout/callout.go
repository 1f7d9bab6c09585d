// Package callout answers the NATS server's auth callout for customers: the server, unable to
// find a connecting user in its configuration, asks on $SYS.REQ.USER.AUTH; the answer is either
// a user JWT, signed by the issuer account key the server trusts, placing the customer in the
// CUSTOMERS account with the permissions of the accounts they own, or an error, on which the
// server closes the connection with "Authorization Violation".
package callout

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"tsbank/services/auth/customer"
)

// Subject is where the server sends authorization requests (in the auth callout's account).
const Subject = "$SYS.REQ.USER.AUTH"

// Outcomes of a login, for the metrics.
const (
	Accepted = "accepted"
	Refused  = "refused"
	Failed   = "failed" // the service could not decide: the store did not answer, or the request was unreadable
)

// Handler answers authorization requests.
type Handler struct {
	Directory *customer.Directory
	Issuer    nkeys.KeyPair // the account key named as the callout's issuer in nats.conf
	Account   string        // the account customers are placed in: CUSTOMERS
	// TTL bounds a login: the server closes a customer's connection when their user JWT expires,
	// and the client's reconnect logs in again, so even a connection that stays open picks up a
	// revoked account or a disable within TTL.
	TTL     time.Duration
	Timeout time.Duration // for the store; the server waits for its auth timeout only
	Log     *slog.Logger
	// Outcome is told each login's outcome (Accepted, Refused or Failed).
	Outcome func(outcome string)
}

// Handle answers one request from the server. An unreadable request gets an empty reply, which
// the server takes as a refusal.
func (h *Handler) Handle(m *nats.Msg) {
	answer, outcome := h.Answer(m.Data)
	h.Outcome(outcome)
	if err := m.Respond(answer); err != nil {
		h.Log.Warn("auth callout reply not sent", "err", err)
	}
}

// Answer returns the signed response to the encoded authorization request data, and the
// outcome of the login.
func (h *Handler) Answer(data []byte) ([]byte, string) {
	req, err := jwt.DecodeAuthorizationRequestClaims(string(data))
	if err != nil {
		h.Log.Warn("auth callout request unreadable", "err", err)
		return nil, Failed
	}
	user := req.ConnectOptions.Username
	ctx, cancel := context.WithTimeout(context.Background(), h.Timeout)
	defer cancel()
	c, err := h.Directory.Authenticate(ctx, user, req.ConnectOptions.Password)
	switch {
	case errors.Is(err, customer.ErrBadCredentials), errors.Is(err, customer.ErrDisabled):
		// The user name is logged to trace attacks; the password never is.
		h.Log.Warn("login refused", "user", user, "reason", err.Error(), "client", req.ClientInformation.Host)
		return h.respond(req, "", err.Error()), Refused
	case err != nil:
		h.Log.Error("login not decided", "user", user, "err", err)
		return h.respond(req, "", "the auth service failed"), Failed
	}
	userJWT, err := h.userJWT(req, c)
	if err != nil {
		h.Log.Error("login not decided", "user", user, "err", err)
		return h.respond(req, "", "the auth service failed"), Failed
	}
	h.Log.Info("login", "user", user, "accounts", c.Accounts, "client", req.ClientInformation.Host)
	return h.respond(req, userJWT, ""), Accepted
}

// userJWT is the customer's user, for the nkey the server made for this connection, placed in
// h.Account by the audience (config mode) with the customer's permissions.
func (h *Handler) userJWT(req *jwt.AuthorizationRequestClaims, c customer.Customer) (string, error) {
	uc := jwt.NewUserClaims(req.UserNkey)
	uc.Name = c.ID // the server shows it as the connection's user
	uc.Audience = h.Account
	uc.Expires = time.Now().Add(h.TTL).Unix()
	p := customer.PermissionsOf(c)
	// An empty allow list in a user JWT means no limit at all, never "nothing": a customer
	// whose permissions come out empty (an id that is no subject token) is not logged in.
	if len(p.Publish) == 0 || len(p.Subscribe) == 0 {
		return "", errors.New("customer " + c.ID + " has no valid permissions")
	}
	uc.Pub.Allow.Add(p.Publish...)
	uc.Sub.Allow.Add(p.Subscribe...)
	return uc.Encode(h.Issuer)
}

// respond signs the response: for the server that asked (the audience) and the connection's
// nkey (the subject), with either a user JWT or an error.
func (h *Handler) respond(req *jwt.AuthorizationRequestClaims, userJWT, refusal string) []byte {
	rc := jwt.NewAuthorizationResponseClaims(req.UserNkey)
	rc.Audience = req.Server.ID
	rc.Jwt = userJWT
	rc.Error = refusal
	token, err := rc.Encode(h.Issuer)
	if err != nil {
		// Cannot happen with an account key; the empty reply refuses the login.
		h.Log.Error("auth callout response not signed", "err", err)
		return nil
	}
	return []byte(token)
}

package callout

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"tsbank/services/auth/customer"
)

// oneCustomer is a store that knows one customer and nothing else.
type oneCustomer struct {
	customer.Store
	c    customer.Customer
	hash []byte
}

func (s oneCustomer) Credentials(_ context.Context, id string) (customer.Customer, []byte, error) {
	if id != s.c.ID {
		return customer.Customer{}, nil, customer.ErrNotFound
	}
	return s.c, s.hash, nil
}

// login asks h, as the server would, to log in user with password, and returns the response.
func login(t *testing.T, h *Handler, user, password string) *jwt.AuthorizationResponseClaims {
	t.Helper()
	server, _ := nkeys.CreateServer()
	serverID, _ := server.PublicKey()
	conn, _ := nkeys.CreateUser()
	connKey, _ := conn.PublicKey()
	req := jwt.NewAuthorizationRequestClaims(connKey)
	req.UserNkey = connKey
	req.Server.ID = serverID
	req.ConnectOptions.Username, req.ConnectOptions.Password = user, password
	data, err := req.Encode(server)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := h.Answer([]byte(data))
	rc, err := jwt.DecodeAuthorizationResponseClaims(string(answer))
	if err != nil {
		t.Fatalf("response: %v", err)
	}
	return rc
}

func handler(t *testing.T, c customer.Customer, password string) *Handler {
	t.Helper()
	hasher, err := customer.NewHasher(10)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := hasher.Hash(password)
	if err != nil {
		t.Fatal(err)
	}
	issuer, _ := nkeys.CreateAccount()
	return &Handler{
		Directory: &customer.Directory{Store: oneCustomer{c: c, hash: hash}, Hasher: hasher},
		Issuer:    issuer, Account: "CUSTOMERS", TTL: time.Hour, Timeout: time.Second,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Outcome: func(string) {},
	}
}

func TestACustomerIsPlacedInCustomersWithTheirAccountsOnly(t *testing.T) {
	h := handler(t, customer.Customer{ID: "carol", Accounts: []string{"carol-1"}}, "carol-password-1")
	rc := login(t, h, "carol", "carol-password-1")
	if rc.Error != "" {
		t.Fatalf("refused: %s", rc.Error)
	}
	uc, err := jwt.DecodeUserClaims(rc.Jwt)
	if err != nil {
		t.Fatal(err)
	}
	if uc.Audience != "CUSTOMERS" || !uc.Pub.Allow.Contains("bank.account.carol-1.balance") ||
		uc.Pub.Allow.Contains("bank.account.carol-1.deposit") || !uc.Sub.Allow.Contains("_INBOX_carol.>") {
		t.Fatalf("user claims: %+v", uc)
	}
	if rc := login(t, h, "carol", "wrong-password-1"); rc.Error == "" || rc.Jwt != "" {
		t.Fatalf("a wrong password logged in: %+v", rc)
	}
}

// TestACustomerWithoutValidPermissionsIsNotLoggedIn pins that an empty allow list, which in a
// user JWT means no limit at all, is never issued.
func TestACustomerWithoutValidPermissionsIsNotLoggedIn(t *testing.T) {
	h := handler(t, customer.Customer{ID: "bad id", Accounts: []string{"x"}}, "some-password-12")
	if rc := login(t, h, "bad id", "some-password-12"); rc.Jwt != "" || rc.Error == "" {
		t.Fatalf("logged in with no valid permissions: %+v", rc)
	}
}

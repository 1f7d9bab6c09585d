package customer

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestHashIsSaltedAndVerifiesOnlyThePassword(t *testing.T) {
	h, err := NewHasher(bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	a, err := h.Hash("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.Hash("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Error("two hashes of one password are equal: no salt")
	}
	if bytes.Contains(a, []byte("horse")) {
		t.Error("the hash contains the password")
	}
	if !h.Verify(a, "correct horse battery") || !h.Verify(b, "correct horse battery") {
		t.Error("the password does not verify against its hash")
	}
	if h.Verify(a, "correct horse batterY") {
		t.Error("another password verifies")
	}
}

func TestStandInHashVerifiesNoPassword(t *testing.T) {
	h, err := NewHasher(bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"", "correct horse battery"} {
		if h.Verify(h.standIn, p) {
			t.Errorf("stand-in hash verifies %q", p)
		}
	}
}

func TestCheckPasswordRefusesShortAndOverlongPasswords(t *testing.T) {
	for _, tc := range []struct {
		name, password string
		ok             bool
	}{
		{"11 bytes is refused", strings.Repeat("a", 11), false},
		{"12 bytes is accepted", strings.Repeat("a", 12), true},
		{"72 bytes is accepted", strings.Repeat("a", 72), true},
		{"73 bytes is refused", strings.Repeat("a", 73), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPassword(tc.password)
			if tc.ok != (err == nil) {
				t.Fatalf("CheckPassword = %v", err)
			}
			if err != nil && !errors.Is(err, ErrBadPassword) {
				t.Errorf("error %v is not ErrBadPassword", err)
			}
		})
	}
}

package customer

import (
	"crypto/rand"
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"tsbank/contract"
)

// Passwords are hashed with bcrypt rather than argon2id. argon2id resists GPUs better, being
// memory-hard, but the auth service is on every customer's login path on small machines, where
// argon2id's tens of MiB per login would be the real limit on concurrent logins; and bcrypt's
// hash is a self-describing string (algorithm, cost, salt, hash), so raising the cost later needs
// no schema or format of ours: old hashes keep verifying. bcrypt reads at most 72 bytes, which
// is why longer passwords are refused (CheckPassword) instead of silently cut.

// Hasher hashes and verifies passwords at one bcrypt cost.
type Hasher struct {
	cost int
	// standIn is the hash an unknown name's password is checked against, so that a refusal
	// costs the same whether or not the name exists.
	standIn []byte
}

// NewHasher returns a hasher at cost (bcrypt.MinCost 4 to 31; each step doubles the work).
func NewHasher(cost int) (*Hasher, error) {
	h := &Hasher{cost: cost}
	var err error
	if h.standIn, err = h.Hash(rand.Text()); err != nil {
		return nil, err
	}
	return h, nil
}

// Hash returns a salted bcrypt hash of password.
func (h *Hasher) Hash(password string) ([]byte, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), h.cost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return hash, nil
}

// Verify reports whether password matches hash.
func (h *Hasher) Verify(hash []byte, password string) bool {
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
}

// CheckPassword refuses a password that is too short to resist guessing or too long for bcrypt.
func CheckPassword(p string) error {
	switch {
	case len(p) < contract.MinPasswordLen:
		return fmt.Errorf("%w: the password has %d bytes: send at least %d", ErrBadPassword, len(p), contract.MinPasswordLen)
	case len(p) > contract.MaxPasswordLen:
		return fmt.Errorf("%w: the password has %d bytes: send at most %d (bcrypt reads no more)", ErrBadPassword, len(p), contract.MaxPasswordLen)
	}
	return nil
}

package history

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// Cursors are opaque to clients: the position of the last row of a page and a hash of the query
// it belongs to, signed with HMAC-SHA256. A cursor that was altered, made by hand, signed with
// another secret (another deployment, or a restart without CURSOR_SECRET) or used with other
// filters is refused with invalid_cursor rather than silently answering a different page.
type Cursors struct {
	Secret []byte
}

type cursorBody struct {
	Time    time.Time `json:"t,omitzero"`
	Amount  int64     `json:"a,omitempty"`
	EventID string    `json:"e"`
	Query   string    `json:"q"` // hash of the filters and sort
}

// Make returns the cursor after position p of the query whose hash is query.
func (c Cursors) Make(p Position, query string) string {
	body, _ := json.Marshal(cursorBody{Time: p.Time, Amount: p.Amount, EventID: p.EventID, Query: query})
	enc := base64.RawURLEncoding.EncodeToString(body)
	return enc + "." + base64.RawURLEncoding.EncodeToString(c.sign(enc))
}

// Read checks cursor against the query hash and returns its position.
func (c Cursors) Read(cursor, query string) (Position, error) {
	bad := refuse(ErrInvalidCursor,
		"cursor is not one this service issued for these filters: send the \"next\" of the previous page with the same filters and sort, or no cursor to start again")
	enc, sig, ok := strings.Cut(cursor, ".")
	if !ok {
		return Position{}, bad
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, c.sign(enc)) {
		return Position{}, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	var b cursorBody
	if err != nil || json.Unmarshal(raw, &b) != nil || b.Query != query {
		return Position{}, bad
	}
	return Position{Time: b.Time, Amount: b.Amount, EventID: b.EventID}, nil
}

func (c Cursors) sign(s string) []byte {
	m := hmac.New(sha256.New, c.Secret)
	m.Write([]byte(s))
	return m.Sum(nil)[:16]
}

package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"unicode"
	"unicode/utf8"
)

// MaxPayload bounds a request body. Every TSBank request fits in a few hundred bytes; a larger
// body is a mistake or an attack, and is refused before it is parsed.
const MaxPayload = 8 * 1024

// MaxBatchPayload bounds the body of a contract.LegBatch: MaxLegBatch steps of at most about
// 1.3 KB each (ids of 64 bytes, a description of 200 characters), well under NATS's default
// max_payload of 1 MB.
const MaxBatchPayload = 512 * 1024

// MaxIDLen bounds account, request and node ids.
const MaxIDLen = 64

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// CheckID refuses ids that could not be a single NATS subject token or a readable key: only
// letters, digits, '-' and '_', 1 to 64 bytes. what names the field in the message.
func CheckID(what, id string) *Error {
	switch {
	case id == "":
		return Errorf(CodeInvalidID, "%s is missing: send 1 to %d letters, digits, '-' or '_'", what, MaxIDLen)
	case len(id) > MaxIDLen:
		return Errorf(CodeInvalidID, "%s is %d bytes long: send at most %d", what, len(id), MaxIDLen)
	case !idPattern.MatchString(id):
		return Errorf(CodeInvalidID, "%s %q has characters other than letters, digits, '-' and '_'", what, id)
	}
	return nil
}

// Decode reads exactly one JSON object from data into v, refusing unknown fields, trailing data
// and bodies over MaxPayload. An empty body decodes as {} so that `nats req subj ”` works for
// requests without required fields.
func Decode(data []byte, v any) *Error { return DecodeLimit(data, v, MaxPayload) }

// DecodeLimit is Decode with a bound of limit bytes instead of MaxPayload.
func DecodeLimit(data []byte, v any, limit int) *Error {
	if len(data) > limit {
		return Errorf(CodePayloadTooLarge, "body is %d bytes: send at most %d", len(data), limit)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Errorf(CodeBadRequest, "body is not the JSON object expected: %s", describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Errorf(CodeBadRequest, "body has data after the JSON object: send one object")
	}
	if key, ok := duplicateKey(data); ok {
		return Errorf(CodeBadRequest, "body has the field %q more than once (field names are matched regardless of case): send each field once", key)
	}
	return nil
}

func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Field != "" {
			return fmt.Sprintf("field %q must be a JSON %s (amounts are strings such as \"12.50\")", typeErr.Field, typeErr.Type)
		}
		return fmt.Sprintf("expected a JSON object, got %s", typeErr.Value)
	}
	return err.Error()
}

// duplicateKey finds a key that appears twice in one object of data, which must be valid JSON.
// encoding/json keeps the last of two such keys without a word, so {"amount":"1.00","amount":"900.00"}
// would be read as 900.00 by us and perhaps as 1.00 by a proxy or a log reader that keeps the
// first: a request must mean one thing. Keys are compared as encoding/json matches them to fields,
// without regard to case ("id" and "ID" are one field). Every request is decoded here, so every
// endpoint refuses them. It allocates nothing for keys without escapes: a batch of legs is
// checked at a fraction of what decoding it costs.
func duplicateKey(data []byte) (string, bool) {
	type level struct {
		object  bool
		wantKey bool // the next string is a key
		from    int  // this object's keys are keys[from:]
	}
	var stack []level
	var keys [][]byte
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{':
			stack = append(stack, level{object: true, wantKey: true, from: len(keys)})
		case '[':
			stack = append(stack, level{from: len(keys)})
		case '}', ']':
			keys = keys[:stack[len(stack)-1].from]
			stack = stack[:len(stack)-1]
		case ',':
			if top := &stack[len(stack)-1]; top.object {
				top.wantKey = true
			}
		case '"':
			start, escaped := i, false
			for i++; data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
					escaped = true
				}
			}
			if len(stack) == 0 || !stack[len(stack)-1].wantKey {
				continue
			}
			top := &stack[len(stack)-1]
			top.wantKey = false
			key := data[start+1 : i]
			if escaped {
				var k string
				_ = json.Unmarshal(data[start:i+1], &k)
				key = []byte(k)
			}
			for _, earlier := range keys[top.from:] {
				if sameField(earlier, key) {
					return string(key), true
				}
			}
			keys = append(keys, key)
		}
	}
	return "", false
}

// sameField tells whether encoding/json would match keys a and b to the same field: equal once
// ASCII letters are upper-cased and other letters mapped through unicode.ToUpper(unicode.ToLower(r)).
func sameField(a, b []byte) bool {
	fold := func(r rune) rune {
		if r < utf8.RuneSelf {
			return unicode.ToUpper(r)
		}
		return unicode.ToUpper(unicode.ToLower(r))
	}
	for len(a) > 0 && len(b) > 0 {
		ra, na := utf8.DecodeRune(a)
		rb, nb := utf8.DecodeRune(b)
		if ra != rb && fold(ra) != fold(rb) {
			return false
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) == 0 && len(b) == 0
}

// MaxDescription bounds a transaction description, in characters.
const MaxDescription = 200

// CheckDescription refuses descriptions that are too long, not UTF-8, or hold control characters
// (a newline or a carriage return would break a statement's table and its CSV round trip).
func CheckDescription(s string) *Error {
	if !utf8.ValidString(s) {
		return Errorf(CodeBadRequest, "description is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > MaxDescription {
		return Errorf(CodeBadRequest, "description has %d characters: send at most %d", n, MaxDescription)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return Errorf(CodeBadRequest, "description has a control character (%U): send one line of plain text", r)
		}
	}
	return nil
}

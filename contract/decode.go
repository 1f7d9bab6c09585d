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

package contract

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		code       Code
	}{
		{"accepts an object", `{"id":"d-1","amount":"1.00"}`, ""},
		{"accepts an empty body as {}", ``, ""},
		{"refuses unknown fields", `{"id":"d-1","amount":"1.00","x":1}`, CodeBadRequest},
		{"refuses trailing data", `{"id":"d-1"} {}`, CodeBadRequest},
		{"refuses a number amount", `{"amount":12.5}`, CodeBadRequest},
		{"refuses an array", `[]`, CodeBadRequest},
		{"refuses large bodies", `{"description":"` + strings.Repeat("x", MaxPayload) + `"}`, CodePayloadTooLarge},
		{"refuses a duplicate key", `{"id":"d-1","amount":"1.00","amount":"900.00"}`, CodeBadRequest},
		{"refuses a duplicate key in another case", `{"id":"d-1","amount":"1.00","Amount":"900.00"}`, CodeBadRequest},
		{"refuses a duplicate key written with an escape", `{"id":"d-1","\u0069d":"d-2"}`, CodeBadRequest},
		{"accepts a value equal to a key", `{"id":"amount","amount":"1.00","description":"id"}`, ""},
		{"accepts escapes in values", `{"id":"d-1","description":"say \"id\", then \\"}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r MoneyRequest
			e := Decode([]byte(tc.body), &r)
			if (e == nil && tc.code != "") || (e != nil && e.Code != tc.code) {
				t.Fatalf("Decode(%q) = %v, want code %q", tc.body, e, tc.code)
			}
		})
	}
}

// TestDecodeRefusesDuplicateKeys pins that a key twice in one object is refused at every depth,
// where encoding/json alone kept the last one silently, and that the same key in two objects is not
// a duplicate.
func TestDecodeRefusesDuplicateKeys(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"the same key in sibling objects", `{"steps":[{"op":"prepare","leg":"debit"},{"op":"commit","leg":"credit"}]}`, true},
		{"the same key in an object and its parent", `{"op":"x","steps":[{"op":"prepare"}]}`, true},
		{"a key twice in a nested object", `{"steps":[{"op":"prepare"},{"op":"commit","op":"abort"}]}`, false},
		{"a key twice after a nested array", `{"steps":[{"op":"prepare"}],"sig":"a","steps":[]}`, false},
		{"a key twice, spaced", "{ \"sig\" : \"a\" ,\n\t\"SIG\" : \"b\" }", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v any
			e := Decode([]byte(tc.body), &v)
			if (e == nil) != tc.ok || (e != nil && (e.Code != CodeBadRequest || !strings.Contains(e.Message, "more than once"))) {
				t.Fatalf("Decode(%s) = %v, want ok=%v", tc.body, e, tc.ok)
			}
		})
	}
}

func TestCheckID(t *testing.T) {
	for id, ok := range map[string]bool{
		"alice": true, "a-1_B": true, strings.Repeat("a", 64): true,
		"": false, "a.b": false, "a b": false, "a*": false, "a>": false, "é": false, strings.Repeat("a", 65): false,
	} {
		if e := CheckID("id", id); (e == nil) != ok {
			t.Errorf("CheckID(%q) = %v, want ok=%v", id, e, ok)
		}
	}
}

// FuzzDecode feeds request decoding arbitrary bytes: it must never panic, must refuse with a
// contract code, and what it accepts must survive a re-encode.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"id":"d-1","amount":"12.50"}`, `{"id":"o","currency":"EUR","node":"account-1"}`, ``, `{`, `[]`, `{"amount":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m MoneyRequest
		if e := Decode(data, &m); e != nil {
			if e.Code != CodeBadRequest && e.Code != CodePayloadTooLarge {
				t.Fatalf("Decode refused with code %q", e.Code)
			}
		} else {
			again, _ := json.Marshal(m)
			var back MoneyRequest
			if e := Decode(again, &back); e != nil || back != m {
				t.Fatalf("re-encoded %s decodes to %+v, %v", again, back, e)
			}
		}
		var o OpenRequest
		_ = Decode(data, &o)
	})
}

package env

import (
	"strings"
	"testing"
	"time"
)

func TestReaderReportsEveryMalformedVariable(t *testing.T) {
	vars := map[string]string{"TIMEOUT": "soon", "WORKERS": "0", "NAME": "x"}
	r := New(func(k string) string { return vars[k] })
	if got := r.String("NAME", "d"); got != "x" {
		t.Errorf("String = %q", got)
	}
	if got := r.String("UNSET", "d"); got != "d" {
		t.Errorf("String default = %q", got)
	}
	r.Duration("TIMEOUT", time.Second)
	r.Int("WORKERS", 4, 1, 64)
	r.Required("DATABASE_URL", "a Postgres URL")
	err := r.Err()
	if err == nil {
		t.Fatal("no error for three bad variables")
	}
	for _, name := range []string{"TIMEOUT", "WORKERS", "DATABASE_URL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestReaderAcceptsGoodValues(t *testing.T) {
	vars := map[string]string{"TIMEOUT": "250ms", "WORKERS": "8", "URL": "u"}
	r := New(func(k string) string { return vars[k] })
	if d := r.Duration("TIMEOUT", time.Second); d != 250*time.Millisecond {
		t.Errorf("Duration = %s", d)
	}
	if n := r.Int("WORKERS", 4, 1, 64); n != 8 {
		t.Errorf("Int = %d", n)
	}
	if u := r.Required("URL", "x"); u != "u" {
		t.Errorf("Required = %q", u)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
}

package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"tsbank/contract/decisionsig"
	"tsbank/platform/provision"
)

func TestKeygenPrintsAPairTheServicesAccept(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"keygen"}, &out); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		k, v, _ := strings.Cut(line, "=")
		vars[k] = v
	}
	kp, err := decisionsig.ParseSeed(vars["COORDINATOR_SIGNING_KEY"])
	if err != nil {
		t.Fatalf("COORDINATOR_SIGNING_KEY: %v\n%s", err, out.String())
	}
	v, err := decisionsig.NewVerifier(vars["COORDINATOR_PUBLIC_KEYS"])
	if err != nil {
		t.Fatalf("COORDINATOR_PUBLIC_KEYS: %v\n%s", err, out.String())
	}
	s := decisionsig.Statement{Op: "commit", TransferID: "t1", Leg: "credit", Account: "bob"}
	sig, err := decisionsig.Sign(kp, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(s, sig); err != nil {
		t.Fatalf("the public key does not verify the seed's signature: %v", err)
	}
}

// TestProvisionReadsTheEventsRetention: EVENTS_RETENTION sets how long the events stream keeps an
// event (issue 12: it kept them for ever, unsaid); 30 days unless set, 0 for ever, and never
// shorter than the stream's ten-minute duplicate window.
func TestProvisionReadsTheEventsRetention(t *testing.T) {
	tests := []struct {
		name, value string
		want        time.Duration
		wantErr     bool
	}{
		{"unset is 30 days", "", 720 * time.Hour, false},
		{"a duration is taken", "48h", 48 * time.Hour, false},
		{"0 keeps every event", "0", provision.KeepEvents, false},
		{"under the duplicate window is refused", "5m", 0, true},
		{"not a duration is refused", "a month", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := provisionOptions(func(k string) string {
				if k == "EVENTS_RETENTION" {
					return tt.value
				}
				return ""
			})
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "EVENTS_RETENTION") {
					t.Fatalf("err = %v, want one naming EVENTS_RETENTION", err)
				}
				return
			}
			if err != nil || o.EventsRetention != tt.want {
				t.Fatalf("retention %v, %v; want %v", o.EventsRetention, err, tt.want)
			}
		})
	}
}

package ops_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"tsbank/platform/ops"
)

// startServer starts a server on a free loopback port and shuts it down when
// the test ends.
func startServer(t testing.TB, reg prometheus.Gatherer, ready func() error) *ops.Server {
	t.Helper()
	s := ops.NewServer("127.0.0.1:0", reg, ready)
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

func get(t testing.TB, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	reg := ops.NewRegistry()
	promauto.With(reg).NewCounter(prometheus.CounterOpts{Name: "tsbank_test_total", Help: "A test counter."}).Add(3)

	var notReady atomic.Pointer[error]
	s := startServer(t, reg, func() error {
		if p := notReady.Load(); p != nil {
			return *p
		}
		return nil
	})
	base := "http://" + s.Addr()

	t.Run("healthz answers ok", func(t *testing.T) {
		code, body := get(t, http.MethodGet, base+"/healthz")
		if code != http.StatusOK || body != "ok\n" {
			t.Errorf("got %d %q", code, body)
		}
	})
	t.Run("readyz answers ok while ready", func(t *testing.T) {
		code, body := get(t, http.MethodGet, base+"/readyz")
		if code != http.StatusOK || body != "ok\n" {
			t.Errorf("got %d %q", code, body)
		}
	})
	t.Run("readyz answers 503 with the reason while not ready", func(t *testing.T) {
		err := errors.New("database unreachable")
		notReady.Store(&err)
		defer notReady.Store(nil)
		code, body := get(t, http.MethodGet, base+"/readyz")
		if code != http.StatusServiceUnavailable || body != "database unreachable\n" {
			t.Errorf("got %d %q", code, body)
		}
		// Liveness must not follow readiness.
		if code, _ := get(t, http.MethodGet, base+"/healthz"); code != http.StatusOK {
			t.Errorf("healthz = %d while not ready", code)
		}
	})
	t.Run("metrics exposes the registry", func(t *testing.T) {
		code, body := get(t, http.MethodGet, base+"/metrics")
		if code != http.StatusOK || !strings.Contains(body, "\ntsbank_test_total 3\n") {
			t.Errorf("got %d %q", code, body)
		}
	})
	t.Run("metrics include the Go runtime and the process", func(t *testing.T) {
		_, body := get(t, http.MethodGet, base+"/metrics")
		for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_start_time_seconds"} {
			if !strings.Contains(body, "\n"+name+" ") {
				t.Errorf("no %s in\n%s", name, body)
			}
		}
	})
	t.Run("HEAD is answered", func(t *testing.T) {
		if code, _ := get(t, http.MethodHead, base+"/healthz"); code != http.StatusOK {
			t.Errorf("got %d", code)
		}
	})
	t.Run("POST is refused", func(t *testing.T) {
		if code, _ := get(t, http.MethodPost, base+"/healthz"); code != http.StatusMethodNotAllowed {
			t.Errorf("got %d", code)
		}
	})
	t.Run("unknown path is not found", func(t *testing.T) {
		if code, _ := get(t, http.MethodGet, base+"/nope"); code != http.StatusNotFound {
			t.Errorf("got %d", code)
		}
	})
}

func TestNilRegistryAndReadyServeDefaults(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil, nil)
	base := "http://" + s.Addr()
	if code, _ := get(t, http.MethodGet, base+"/readyz"); code != http.StatusOK {
		t.Errorf("readyz = %d", code)
	}
	if code, body := get(t, http.MethodGet, base+"/metrics"); code != http.StatusOK || body != "" {
		t.Errorf("metrics = %d %q", code, body)
	}
}

func TestStartReportsPortInUse(t *testing.T) {
	t.Parallel()
	first := startServer(t, nil, nil)
	second := ops.NewServer(first.Addr(), nil, nil)
	if err := second.Start(); err == nil {
		_ = second.Shutdown(context.Background())
		t.Fatal("Start on a port in use succeeded")
	}
}

func TestAddrIsConfiguredAddressBeforeStart(t *testing.T) {
	t.Parallel()
	s := ops.NewServer("127.0.0.1:0", nil, nil)
	if got := s.Addr(); got != "127.0.0.1:0" {
		t.Errorf("Addr = %q", got)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown before Start: %v", err)
	}
}

func TestStartTwiceFails(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil, nil)
	if err := s.Start(); err == nil {
		t.Error("second Start succeeded")
	}
}

func TestShutdownStopsServing(t *testing.T) {
	t.Parallel()
	s := ops.NewServer("127.0.0.1:0", nil, nil)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	url := "http://" + s.Addr() + "/healthz"
	if code, _ := get(t, http.MethodGet, url); code != http.StatusOK {
		t.Fatalf("before shutdown: %d", code)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// A fresh connection avoids reusing a kept-alive one, which Shutdown
	// closes but the client may not have noticed yet.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := client.Get(url); err == nil {
		resp.Body.Close()
		t.Error("server still answers after Shutdown")
	}
}

package natsconn_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tsbank/platform/natsconn"
)

// TestSetUpWaitsForAClusterStillForming starts one server of a three-server cluster and asks it for
// a stream with three replicas: JetStream cannot answer until the others join, which they start to
// do only once SetUp's first attempt has failed. SetUp must wait for them rather than fail, and the
// stream must then be there with its three replicas.
//
// It used to start the late servers from a goroutine that called t.Fatalf, and to hold their route
// ports free for 1.5 s before binding them: under load a server that did not come up was reported
// from the wrong goroutine, and only after SetUp had waited its whole minute. Now every failure is
// reported here, at once: a late server that does not start cancels SetUp, with what it logged.
func TestSetUpWaitsForAClusterStillForming(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a nats-server: the fast tier (-short) skips it")
	}
	// A clustered server is not ready until it has met its peers, so every route must be known
	// before the first one starts. Each port stays held by a listener until its server is about to
	// bind it, so that nothing else can take it meanwhile.
	var routes []*url.URL
	var held []net.Listener
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		routes = append(routes, &url.URL{Scheme: "nats", Host: l.Addr().String()})
		held = append(held, l)
	}
	servers := make([]*server.Server, 3)
	logs := make([]*serverLog, 3)
	for i := range servers {
		port, _ := strconv.Atoi(routes[i].Port())
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "setup", Host: "127.0.0.1", Port: port},
			Routes:  routes,
		})
		if err != nil {
			t.Fatal(err)
		}
		logs[i] = &serverLog{}
		s.SetLogger(logs[i], false, false)
		t.Cleanup(s.Shutdown)
		servers[i] = s
	}
	// start binds server i's ports and waits until it accepts connections; it touches no
	// testing.T, so that it may run on another goroutine.
	start := func(i int) error {
		held[i].Close()
		go servers[i].Start()
		// Generous: on a loaded machine a server takes seconds to open its store and listeners.
		// One that gave up (a fatal error) is reported at once, not after the whole wait.
		for end := time.Now().Add(30 * time.Second); time.Now().Before(end); {
			if servers[i].ReadyForConnections(100 * time.Millisecond) {
				return nil
			}
			if logs[i].fatal() {
				break
			}
		}
		return fmt.Errorf("n%d did not start; it logged: %s", i+1, logs[i])
	}
	if err := start(0); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(servers[0].ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	failedOnce := make(chan struct{})
	late := make(chan error, 1)
	go func() {
		select {
		case <-failedOnce:
		case <-ctx.Done():
			late <- nil
			return
		}
		err := start(1)
		if err == nil {
			err = start(2)
		}
		if err != nil {
			cancel() // SetUp would otherwise wait its whole minute for a cluster that cannot form
		}
		late <- err
	}()
	attempts := 0
	began := time.Now()
	err = natsconn.SetUp(ctx, slog.New(slog.NewTextHandler(t.Output(), nil)), func(ctx context.Context) error {
		attempts++
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Replicas: 3})
		if err != nil && attempts == 1 {
			close(failedOnce)
		}
		return err
	})
	cancel()
	if lateErr := <-late; lateErr != nil {
		t.Fatalf("the late servers: %v (SetUp: %v after %d attempts)", lateErr, err, attempts)
	}
	if err != nil {
		t.Fatalf("SetUp after %d attempts in %v: %v", attempts, time.Since(began), err)
	}
	if attempts < 2 {
		t.Fatalf("%d attempt: the cluster was ready at once, so the test showed nothing", attempts)
	}
	sctx, scancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer scancel()
	info, err := js.Stream(sctx, "S")
	if err != nil || info.CachedInfo().Config.Replicas != 3 {
		t.Fatalf("stream S: %v", err)
	}
	t.Logf("ready after %d attempts, %v", attempts, time.Since(began))
}

// serverLog keeps what a nats-server logs at warning level and above, to say why one did not
// start.
type serverLog struct {
	mu     sync.Mutex
	lines  []string
	failed bool // it logged a fatal error: it will not start
}

func (l *serverLog) add(format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, v...))
}

func (l *serverLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 0 {
		return "nothing"
	}
	return strings.Join(l.lines, "; ")
}

func (l *serverLog) Warnf(format string, v ...any)  { l.add("warning: "+format, v...) }
func (l *serverLog) Errorf(format string, v ...any) { l.add("error: "+format, v...) }
func (l *serverLog) Fatalf(format string, v ...any) {
	l.add("fatal: "+format, v...)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failed = true
}

func (l *serverLog) fatal() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

func (l *serverLog) Noticef(string, ...any) {}
func (l *serverLog) Debugf(string, ...any)  {}
func (l *serverLog) Tracef(string, ...any)  {}

// TestSetUpReturnsOtherErrorsAtOnce: an error that waiting cannot cure is not retried.
func TestSetUpReturnsOtherErrorsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a nats-server: the fast tier (-short) skips it")
	}
	attempts := 0
	denied := errors.New("nats: permissions violation")
	err := natsconn.SetUp(context.Background(), slog.Default(), func(context.Context) error {
		attempts++
		return denied
	})
	if !errors.Is(err, denied) || attempts != 1 {
		t.Fatalf("SetUp = %v after %d attempts, want the error after one", err, attempts)
	}
}

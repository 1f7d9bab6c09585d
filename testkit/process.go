package testkit

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Build compiles the command in package pkg (an import path, or "." for the package under test)
// into the test's temp dir and returns the binary's path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	name := path.Base(pkg)
	if pkg == "." {
		name = "service"
	}
	bin := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// Process is a service binary run as a child process, so that a test can kill it for real
// (SIGKILL, SIGSTOP) and start it again on the same data.
type Process struct {
	Bin      string
	Env      []string // added to this process's environment; HTTP_ADDR is set by NewProcess
	HTTPAddr string
	Cmd      *exec.Cmd
}

// NewProcess prepares bin with env on a free operations port. A process still running at the end
// of the test is killed.
func NewProcess(t testing.TB, bin string, env ...string) *Process {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := &Process{Bin: bin, Env: append(env, "HTTP_ADDR="+addr), HTTPAddr: addr}
	t.Cleanup(func() {
		if p.Cmd != nil && p.Cmd.ProcessState == nil {
			_ = p.Cmd.Process.Kill()
			_ = p.Cmd.Wait()
		}
	})
	return p
}

// Start runs the process and waits until it is ready.
func (p *Process) Start(t testing.TB) {
	t.Helper()
	p.Launch(t)
	p.WaitReady(t, 30*time.Second)
}

// Launch runs the process without waiting for it. Its log goes to the test's output with -v.
func (p *Process) Launch(t testing.TB) {
	t.Helper()
	p.Cmd = exec.Command(p.Bin)
	p.Cmd.Env = append(os.Environ(), p.Env...)
	if testing.Verbose() {
		p.Cmd.Stderr = os.Stderr
	}
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

// WaitReady waits until the process's /readyz answers 200.
func (p *Process) WaitReady(t testing.TB, total time.Duration) {
	t.Helper()
	CheckFor(t, total, 20*time.Millisecond, func() error {
		resp, err := http.Get("http://" + p.HTTPAddr + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return nil
	})
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	p.Signal(t, syscall.SIGKILL)
	_ = p.Cmd.Wait()
}

// Signal sends sig (SIGSTOP, SIGCONT, …) to the process.
func (p *Process) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

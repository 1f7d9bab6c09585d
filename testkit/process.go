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

// Start runs the process and waits until its /readyz answers 200. Its log goes to the test's
// output with -v.
func (p *Process) Start(t testing.TB) {
	t.Helper()
	p.Cmd = exec.Command(p.Bin)
	p.Cmd.Env = append(os.Environ(), p.Env...)
	if testing.Verbose() {
		p.Cmd.Stderr = os.Stderr
	}
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
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
	if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.Cmd.Wait()
}

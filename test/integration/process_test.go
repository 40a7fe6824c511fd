//go:build integration

package integration

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// stopGrace is how long a process may take to exit after SIGTERM before it is killed.
const stopGrace = 10 * time.Second

// process is a child process of the tier, started in its own process group with its
// output in a log file.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	// exited is closed when the process has exited, and err is its exit error then.
	exited chan struct{}
	err    error
}

// startProcess starts binary with args and exactly the environment env, writing its
// stdout and stderr to logDir/<name>.log.
func startProcess(name, logDir string, env []string, binary string, args ...string) (
	*process, error) {
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("creating the log of %s: %w", name, err)
	}
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// A process group lets stop reach any child the binary starts. Pdeathsig kills the
	// process when the test binary dies without cleaning up, for example on a -timeout
	// panic. Linux sends it when the thread that forked exits, which the Go runtime
	// does only for threads locked with runtime.LockOSThread.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

// running reports an error when the process has exited.
func (p *process) running() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited: %v; see %s", p.name, p.err, p.logPath)
	default:
		return nil
	}
}

// stop sends SIGTERM to the process group and SIGKILL after stopGrace. It returns once
// the process has exited.
func (p *process) stop() {
	pgid := -p.cmd.Process.Pid
	if err := syscall.Kill(pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		fmt.Fprintf(os.Stderr, "stopping %s: %v\n", p.name, err)
	}
	select {
	case <-p.exited:
	case <-time.After(stopGrace):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.exited
	}
}

// kill sends SIGKILL to the process group, as the kubelet does to a Pod whose grace period
// ended, and returns once the process has exited. A later stop does nothing.
func (p *process) kill() error {
	err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing %s: %w", p.name, err)
	}
	<-p.exited
	return nil
}

// freePorts returns n distinct free TCP ports on 127.0.0.1. The listeners stay open
// until all ports are chosen, so no port is returned twice. Another program may still
// take a port before the caller binds it.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// loopback returns "127.0.0.1:<port>".
func loopback(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// logTail returns what the file at path gained after offset, at most limit bytes from its
// end. It returns a note instead of failing, because it only feeds diagnostics.
func logTail(path string, offset, limit int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot open %s: %v)", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	start, note := offset, ""
	if info.Size()-start > limit {
		start = info.Size() - limit
		note = fmt.Sprintf("(%d earlier bytes left out; full log in %s)\n", start-offset, path)
	}
	data, err := io.ReadAll(io.NewSectionReader(f, start, info.Size()-start))
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	return note + string(data)
}

// fileSize returns the size of the file at path, or 0 when it cannot be read.
func fileSize(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return info.Size()
}

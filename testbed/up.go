package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the flags of `testbed up`.
type options struct {
	dir        string
	nodes      int
	foreground bool
	detached   bool
	kwok       string
	compaction time.Duration
	nodeGrace  time.Duration
	toleration int
	timeout    time.Duration
}

func parseUp(args []string) (options, error) {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	o := options{}
	fs.StringVar(&o.dir, "dir", ".testbed", "state directory: kubeconfig, certificates, logs")
	fs.IntVar(&o.nodes, "nodes", 0, "kwok nodes to register besides the always-ready anchor node")
	fs.BoolVar(&o.foreground, "foreground", false, "stay in the foreground; Ctrl-C or the death of the calling process stops the cluster")
	fs.BoolVar(&o.detached, "detached", false, "(internal) run on after the calling process exits; stop with `testbed down`")
	fs.StringVar(&o.kwok, "kwok", "", "the kwok binary (default: kwok next to this binary, then on PATH)")
	fs.DurationVar(&o.compaction, "compaction-interval", 30*time.Second, "how often the API server compacts etcd (expired continue tokens)")
	fs.DurationVar(&o.nodeGrace, "node-monitor-grace-period", 15*time.Second, "how long a node may miss heartbeats before it is NotReady (short for tests; raise it for large clusters)")
	fs.IntVar(&o.toleration, "toleration-seconds", 10, "default not-ready/unreachable toleration of pods: how soon a lost node's pods are evicted")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long to wait for the cluster to be ready")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return o, err
	}
	o.dir = dir
	if o.kwok == "" {
		o.kwok = findKwok()
	}
	return o, nil
}

func findKwok() string {
	if self, err := os.Executable(); err == nil {
		beside := filepath.Join(filepath.Dir(self), "kwok")
		if _, err := os.Stat(beside); err == nil {
			return beside
		}
	}
	if path, err := exec.LookPath("kwok"); err == nil {
		return path
	}
	return "kwok"
}

func up(args []string) int {
	o, err := parseUp(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testbed up: %v\n", err)
		return 2
	}
	if err := os.MkdirAll(filepath.Join(o.dir, "logs"), 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "testbed up: %v\n", err)
		return 1
	}
	if o.foreground {
		return supervise(o)
	}
	return startInBackground(o, args)
}

// startInBackground re-runs `up --foreground` detached from this process
// and returns once the cluster is ready (or has failed to start).
func startInBackground(o options, args []string) int {
	if pid, alive := runningPid(o.dir); alive {
		fmt.Fprintf(os.Stderr, "testbed up: a test bed is already running in %s (pid %d); run `testbed down --dir %s` first\n", o.dir, pid, o.dir)
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testbed up: %v\n", err)
		return 1
	}
	_ = os.Remove(readyPath(o.dir))
	logPath := filepath.Join(o.dir, "logs", "up.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testbed up: %v\n", err)
		return 1
	}
	defer logFile.Close()
	cmd := exec.Command(self, append([]string{"up", "--foreground", "--detached"}, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "testbed up: %v\n", err)
		return 1
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(o.timeout + 30*time.Second)
	for {
		select {
		case <-exited:
			fmt.Fprintf(os.Stderr, "testbed up: the control plane did not start; its log follows (%s)\n%s", logPath, tail(logPath, 40))
			return 1
		case <-deadline:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			fmt.Fprintf(os.Stderr, "testbed up: not ready after %s; see %s\n", o.timeout, logPath)
			return 1
		case <-time.After(200 * time.Millisecond):
			if _, err := os.Stat(readyPath(o.dir)); err == nil {
				fmt.Printf("export KUBECONFIG=%s\n", filepath.Join(o.dir, "kubeconfig"))
				return 0
			}
		}
	}
}

func readyPath(dir string) string { return filepath.Join(dir, "ready") }
func pidPath(dir string) string   { return filepath.Join(dir, "pid") }

// runningPid reads the supervisor's pid file and says whether it still runs.
func runningPid(dir string) (int, bool) {
	data, err := os.ReadFile(pidPath(dir))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, syscall.Kill(pid, 0) == nil
}

func down(args []string) int {
	fs := flag.NewFlagSet("down", flag.ContinueOnError)
	dir := fs.String("dir", ".testbed", "state directory given to up")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	pid, alive := runningPid(*dir)
	if !alive {
		fmt.Fprintf(os.Stderr, "testbed down: nothing runs in %s\n", *dir)
		return 0
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 300; i++ {
		if syscall.Kill(pid, 0) != nil {
			return 0
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	fmt.Fprintf(os.Stderr, "testbed down: pid %d did not stop in 30s and was killed\n", pid)
	return 1
}

// supervise runs the whole control plane in the foreground until a signal,
// the death of its parent, or the death of a component.
func supervise(o options) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := writePrivate(pidPath(o.dir), []byte(strconv.Itoa(os.Getpid()))); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_ = os.Remove(readyPath(o.dir))
	cluster := &cluster{opts: o}
	defer cluster.stop()

	startCtx, cancel := context.WithTimeout(ctx, o.timeout)
	err := cluster.start(startCtx)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testbed up: %v\n", err)
		return 1
	}
	if err := os.WriteFile(readyPath(o.dir), []byte(time.Now().Format(time.RFC3339)), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("testbed: ready; export KUBECONFIG=%s\n", filepath.Join(o.dir, "kubeconfig"))
	parent := os.Getppid()
	for {
		select {
		case <-ctx.Done():
			fmt.Println("testbed: stopping")
			return 0
		case died := <-cluster.died:
			fmt.Fprintf(os.Stderr, "testbed: %s exited (%v); see %s; stopping\n", died.name, died.err, died.log)
			return 1
		case <-time.After(500 * time.Millisecond):
			// Whoever started us in the foreground owns the cluster.
			if !o.detached && os.Getppid() != parent {
				fmt.Println("testbed: parent exited; stopping")
				return 0
			}
		}
	}
}

// freePorts asks the kernel for n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func tail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n") + "\n"
}

var errNotReady = errors.New("not ready")

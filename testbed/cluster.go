package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

//go:embed stages.yaml
var kwokStages []byte

// The static-token user whose RBAC role can read everything and change
// nothing: the 403 tests connect as it.
const (
	viewerUser  = "viewer"
	viewerToken = "testbed-viewer-token"
)

// component is one running process of the control plane.
type component struct {
	name string
	cmd  *exec.Cmd
	log  string
}

type death struct {
	name string
	err  error
	log  string
}

type cluster struct {
	opts       options
	pki        string
	etcdData   string
	components []*component
	died       chan death
	ca         *authority
	apiURL     string
}

func (c *cluster) start(ctx context.Context) error {
	c.died = make(chan death, 8)
	c.pki = filepath.Join(c.opts.dir, "pki")
	if err := os.MkdirAll(c.pki, 0o700); err != nil {
		return err
	}
	if err := c.writePKI(); err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	ports, err := freePorts(7)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, apiPort, cmPort, schedPort, kwokPort, etcdMetrics :=
		ports[0], ports[1], ports[2], ports[3], ports[4], ports[5], ports[6]
	c.apiURL = fmt.Sprintf("https://127.0.0.1:%d", apiPort)

	if err := c.startEtcd(etcdClient, etcdPeer, etcdMetrics); err != nil {
		return err
	}
	if err := waitHTTP(ctx, "etcd", plainClient(), fmt.Sprintf("http://127.0.0.1:%d/health", etcdClient)); err != nil {
		return err
	}
	if err := c.startAPIServer(etcdClient, apiPort); err != nil {
		return err
	}
	admin, err := c.adminHTTPClient()
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, "kube-apiserver", admin, c.apiURL+"/readyz"); err != nil {
		return err
	}
	if err := c.writeKubeconfigs(); err != nil {
		return err
	}
	if err := c.startControllers(cmPort, schedPort); err != nil {
		return err
	}
	if err := c.startKwok(kwokPort); err != nil {
		return err
	}
	// The kubelet's Warning events for faulted pods (kwok writes none).
	if err := c.spawn("kubelet-events", "", "--kubeconfig="+filepath.Join(c.pki, "kwok.kubeconfig")); err != nil {
		return err
	}
	insecure := insecureClient()
	if err := waitHTTP(ctx, "kube-controller-manager", insecure, fmt.Sprintf("https://127.0.0.1:%d/healthz", cmPort)); err != nil {
		return err
	}
	if err := waitHTTP(ctx, "kube-scheduler", insecure, fmt.Sprintf("https://127.0.0.1:%d/healthz", schedPort)); err != nil {
		return err
	}
	if err := waitHTTP(ctx, "kwok", plainClient(), fmt.Sprintf("http://127.0.0.1:%d/healthz", kwokPort)); err != nil {
		return err
	}
	return bootstrap(ctx, filepath.Join(c.opts.dir, "kubeconfig"), c.opts.nodes)
}

func (c *cluster) writePKI() error {
	ca, err := newAuthority()
	if err != nil {
		return err
	}
	c.ca = ca
	caKey, err := ca.keyPEM()
	if err != nil {
		return err
	}
	if err := writePair(c.pki, "ca", certPair{certPEM: ca.certPEM(), keyPEM: caKey}); err != nil {
		return err
	}
	serving, err := ca.serving("kube-apiserver",
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		[]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")})
	if err != nil {
		return err
	}
	clients := []struct {
		file, user string
		groups     []string
	}{
		{"admin", "testbed-admin", []string{"system:masters"}},
		{"controller-manager", "system:kube-controller-manager", nil},
		{"scheduler", "system:kube-scheduler", nil},
		{"kwok", "kwok", []string{"system:masters"}},
	}
	if err := writePair(c.pki, "apiserver", serving); err != nil {
		return err
	}
	// kwok's kubelet API (container logs), which the API server reaches at
	// the nodes' InternalIP over TLS, as it reaches a kubelet.
	kubelet, err := ca.serving("kwok", []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		return err
	}
	if err := writePair(c.pki, "kubelet", kubelet); err != nil {
		return err
	}
	for _, cl := range clients {
		pair, err := ca.client(cl.user, cl.groups...)
		if err != nil {
			return err
		}
		if err := writePair(c.pki, cl.file, pair); err != nil {
			return err
		}
	}
	tokens := fmt.Sprintf("%s,%s,%s-uid,\"testbed-viewers\"\n", viewerToken, viewerUser, viewerUser)
	if err := writePrivate(filepath.Join(c.pki, "tokens.csv"), []byte(tokens)); err != nil {
		return err
	}
	return serviceAccountKeys(c.pki)
}

func (c *cluster) pkiFile(name string) string { return filepath.Join(c.pki, name) }

// spawn starts `testbed NAME ARGS` (or another binary), logging to logs/NAME.log.
// The child dies with us (parent-death signal), and a death is reported on c.died.
func (c *cluster) spawn(name, binary string, args ...string) error {
	if binary == "" {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		binary = self
		args = append([]string{name}, args...)
	}
	logPath := filepath.Join(c.opts.dir, "logs", name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("cannot start %s: %w", name, err)
	}
	comp := &component{name: name, cmd: cmd, log: logPath}
	c.components = append(c.components, comp)
	go func() {
		err := cmd.Wait()
		logFile.Close()
		c.died <- death{name: name, err: err, log: logPath}
	}()
	return nil
}

func (c *cluster) startEtcd(clientPort, peerPort, metricsPort int) error {
	// etcd on tmpfs when there is one: the tests write a lot and need no durability.
	base := c.opts.dir
	if info, err := os.Stat("/dev/shm"); err == nil && info.IsDir() {
		base = "/dev/shm"
	}
	data, err := os.MkdirTemp(base, "oncall-testbed-etcd-")
	if err != nil {
		return err
	}
	c.etcdData = data
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	return c.spawn("etcd", "",
		"--name=testbed",
		"--data-dir="+data,
		"--listen-client-urls="+clientURL,
		"--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=testbed="+peerURL,
		fmt.Sprintf("--listen-metrics-urls=http://127.0.0.1:%d", metricsPort),
		"--unsafe-no-fsync=true",
		"--quota-backend-bytes=8589934592",
		"--log-level=warn",
	)
}

func (c *cluster) startAPIServer(etcdPort, apiPort int) error {
	return c.spawn("kube-apiserver", "",
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", etcdPort),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", apiPort),
		"--cert-dir="+c.pki,
		"--tls-cert-file="+c.pkiFile("apiserver.crt"),
		"--tls-private-key-file="+c.pkiFile("apiserver.key"),
		"--client-ca-file="+c.pkiFile("ca.crt"),
		"--token-auth-file="+c.pkiFile("tokens.csv"),
		"--service-account-key-file="+c.pkiFile("sa.pub"),
		"--service-account-signing-key-file="+c.pkiFile("sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--authorization-mode=Node,RBAC",
		"--service-cluster-ip-range=10.96.0.0/16",
		"--allow-privileged=true",
		// Pods on a lost node are evicted after seconds, not five minutes.
		fmt.Sprintf("--default-not-ready-toleration-seconds=%d", c.opts.toleration),
		fmt.Sprintf("--default-unreachable-toleration-seconds=%d", c.opts.toleration),
		"--etcd-compaction-interval="+c.opts.compaction.String(),
		// kwok's nodes are named, not resolvable: reach their kubelet API
		// (pods/log) at the InternalIP, 127.0.0.1.
		"--kubelet-preferred-address-types=InternalIP",
		"--profiling=false",
		"--v=1",
	)
}

func (c *cluster) startControllers(cmPort, schedPort int) error {
	cmConfig := filepath.Join(c.pki, "controller-manager.kubeconfig")
	if err := c.spawn("kube-controller-manager", "",
		"--kubeconfig="+cmConfig,
		"--authentication-kubeconfig="+cmConfig,
		"--authorization-kubeconfig="+cmConfig,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", cmPort),
		"--cert-dir="+filepath.Join(c.pki, "controller-manager"),
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+c.pkiFile("sa.key"),
		"--root-ca-file="+c.pkiFile("ca.crt"),
		"--cluster-signing-cert-file="+c.pkiFile("ca.crt"),
		"--cluster-signing-key-file="+c.pkiFile("ca.key"),
		// A node that stops heartbeating is NotReady after 15 s, and the
		// lifecycle controller keeps evicting in small, mostly-lost zones.
		"--node-monitor-grace-period="+c.opts.nodeGrace.String(),
		"--node-monitor-period=1s",
		"--node-eviction-rate=100",
		"--secondary-node-eviction-rate=100",
		"--unhealthy-zone-threshold=1",
		"--concurrent-deployment-syncs=10",
		"--concurrent-replicaset-syncs=10",
		// Benchmarks create tens of thousands of pods: the default client
		// rate (20/s) would take half an hour.
		"--kube-api-qps=500",
		"--kube-api-burst=1000",
		"--v=1",
	); err != nil {
		return err
	}
	schedConfig := filepath.Join(c.pki, "scheduler.kubeconfig")
	return c.spawn("kube-scheduler", "",
		"--kubeconfig="+schedConfig,
		"--authentication-kubeconfig="+schedConfig,
		"--authorization-kubeconfig="+schedConfig,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", schedPort),
		"--cert-dir="+filepath.Join(c.pki, "scheduler"),
		"--leader-elect=false",
		"--kube-api-qps=500",
		"--kube-api-burst=1000",
		"--v=1",
	)
}

func (c *cluster) startKwok(port int) error {
	logs, err := c.writeContainerLogs()
	if err != nil {
		return err
	}
	config := filepath.Join(c.opts.dir, "kwok-stages.yaml")
	if err := os.WriteFile(config, append(append([]byte{}, kwokStages...), logs...), 0o644); err != nil {
		return err
	}
	// The nodes' InternalIP and kubelet port are kwok's own server, which
	// serves container logs (over TLS, as a kubelet does) beside its
	// health checks (plain HTTP on the same port).
	return c.spawn("kwok", c.opts.kwok,
		"--kubeconfig="+filepath.Join(c.pki, "kwok.kubeconfig"),
		"--config="+config,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		fmt.Sprintf("--server-address=127.0.0.1:%d", port),
		"--tls-cert-file="+c.pkiFile("kubelet.crt"),
		"--tls-private-key-file="+c.pkiFile("kubelet.key"),
		"--node-lease-duration-seconds=40",
		"--cidr=10.128.0.1/9",
		"--node-ip=127.0.0.1",
		fmt.Sprintf("--node-port=%d", port),
	)
}

// writeContainerLogs writes what every container has logged, now and
// before its last restart, in the container runtime's log format, and
// returns the kwok ClusterLogs that serves them for every pod.
func (c *cluster) writeContainerLogs() ([]byte, error) {
	at := time.Now().UTC().Format(time.RFC3339Nano)
	line := func(stream, text string) string { return at + " " + stream + " F " + text + "\n" }
	current := line("stdout", "INFO starting version=1") +
		line("stdout", "INFO listening on :8080")
	previous := line("stdout", "INFO starting version=1") +
		line("stdout", "INFO connecting to database host=db.internal port=5432") +
		line("stderr", "panic: runtime error: invalid memory address or nil pointer dereference") +
		line("stderr", "[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x6b2f4c]")
	dir := filepath.Join(c.opts.dir, "container-logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	currentFile, previousFile := filepath.Join(dir, "current.log"), filepath.Join(dir, "previous.log")
	if err := os.WriteFile(currentFile, []byte(current), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(previousFile, []byte(previous), 0o644); err != nil {
		return nil, err
	}
	return []byte(fmt.Sprintf(`---
# Every container's log (kubectl logs, pods/log), and with --previous the
# one before its last restart.
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: every-container
spec:
  selector: {}
  logs:
  - logsFile: %q
    previousLogsFile: %q
`, currentFile, previousFile)), nil
}

// stop ends every component, newest first, and removes etcd's data.
func (c *cluster) stop() {
	for i := len(c.components) - 1; i >= 0; i-- {
		comp := c.components[i]
		if comp.cmd.Process != nil {
			_ = comp.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, comp := range c.components {
		for comp.cmd.ProcessState == nil && time.Now().Before(deadline) {
			if syscall.Kill(comp.cmd.Process.Pid, 0) != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = comp.cmd.Process.Kill()
	}
	if c.etcdData != "" {
		_ = os.RemoveAll(c.etcdData)
	}
	_ = os.Remove(readyPath(c.opts.dir))
	_ = os.Remove(pidPath(c.opts.dir))
}

func (c *cluster) adminHTTPClient() (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(c.pkiFile("admin.crt"), c.pkiFile("admin.key"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.ca.cert)
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}},
	}, nil
}

func plainClient() *http.Client { return &http.Client{Timeout: 5 * time.Second} }

// insecureClient reads the controllers' health endpoints, which serve a
// self-signed certificate of their own.
func insecureClient() *http.Client {
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
}

// waitHTTP polls url until it answers 200 or ctx ends.
func waitHTTP(ctx context.Context, name string, client *http.Client, url string) error {
	var last error = errNotReady
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("%s answered %s", url, resp.Status)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s is not healthy: %v", name, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

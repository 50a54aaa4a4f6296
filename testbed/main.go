// Command testbed is a real Kubernetes control plane for oncall's tests and
// benchmarks, built from Go modules: etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler in one multicall binary (one
// component per process), plus `up` and `down`, which start and stop them
// together with kwok, the fake kubelets.
package main

import (
	"fmt"
	"os"
	"runtime"

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

const usage = `usage: testbed COMMAND [flags]

  up [--dir D] [--nodes N] [--foreground]   start a control plane, write D/kubeconfig
  down [--dir D]                            stop the control plane started in D
  etcd | kube-apiserver | kube-controller-manager | kube-scheduler | kubelet-events [flags]
                                            run one component (what up does)
`

func main() {
	// Children get a parent-death signal tied to the thread that started
	// them: keep the main goroutine on one thread so they outlive no one.
	runtime.LockOSThread()
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	component, args := os.Args[1], os.Args[2:]
	// Upstream commands read their name from argv[0].
	os.Args = append([]string{component}, args...)
	switch component {
	case "etcd":
		etcdmain.Main(os.Args)
	case "kube-apiserver":
		os.Exit(cli.Run(apiserver.NewAPIServerCommand()))
	case "kube-controller-manager":
		os.Exit(cli.Run(controllermanager.NewControllerManagerCommand()))
	case "kube-scheduler":
		os.Exit(cli.Run(scheduler.NewSchedulerCommand()))
	case "kubelet-events":
		os.Exit(kubeletEvents(args))
	case "up":
		os.Exit(up(args))
	case "down":
		os.Exit(down(args))
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "testbed: unknown command %q\n%s", component, usage)
		os.Exit(2)
	}
}

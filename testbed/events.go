package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// faultAnnotation is the annotation the simulator and the kwok stages read.
const faultAnnotation = "sim.oncall.dev/fault"

// kubeletEvents is the companion of the kwok stages: kwok sets a faulted
// pod's status, but a kubelet also writes Warning events (BackOff,
// Unhealthy, FailedMount, ...), which `oncall pods stuck` reads as evidence.
// It writes the same events, worded as the kubelet and the simulator word
// them, and repeats them (count, lastTimestamp) while the fault lasts. It
// also turns the simulator's per-image fault rules into pod annotations.
func kubeletEvents(args []string) int {
	fs := flag.NewFlagSet("kubelet-events", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of a user who may write events")
	every := fs.Duration("every", 5*time.Second, "how often a lasting fault's events are repeated")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	writer := &eventWriter{client: client, counts: map[string]*corev1.Event{}}
	factory := informers.NewSharedInformerFactory(client, *every)
	pods := factory.Core().V1().Pods().Informer()
	configMaps := factory.Core().V1().ConfigMaps().Lister()
	nodes := factory.Core().V1().Nodes().Lister()
	handle := func(obj any) {
		if pod, ok := obj.(*corev1.Pod); ok {
			if markImageFault(ctx, client, configMaps, pod) || markNodeFault(ctx, client, nodes, pod) {
				return // the annotated pod comes back as an update
			}
			markNotReady(ctx, client, pod)
			writer.observe(ctx, pod)
		}
	}
	_, _ = pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    handle,
		UpdateFunc: func(_, obj any) { handle(obj) },
	})
	factory.Start(ctx.Done())
	<-ctx.Done()
	return 0
}

type eventWriter struct {
	client kubernetes.Interface
	mu     sync.Mutex
	counts map[string]*corev1.Event
}

type podEvent struct {
	kind, reason, message string
}

var (
	exitCodeParam  = regexp.MustCompile(`exit-code=(\d+)`)
	containerParam = regexp.MustCompile(`container=(\S+)`)
	volumeParam    = regexp.MustCompile(`volume=(\S+)`)
	missingParam   = regexp.MustCompile(`missing=(\S+)`)
)

func param(re *regexp.Regexp, fault string) string {
	if m := re.FindStringSubmatch(fault); m != nil {
		return m[1]
	}
	return ""
}

// markImageFault plays the simulator's image rules (ConfigMap
// `sim-image-faults`, key `rules`, lines of `IMAGE-PATTERN FAULT`, in the
// pod's namespace or in kube-system): a pod whose image matches gets the
// fault annotation, which the kwok stages then play. It reports whether it
// annotated the pod.
func markImageFault(ctx context.Context, client kubernetes.Interface, configMaps corelisters.ConfigMapLister, pod *corev1.Pod) bool {
	if _, has := pod.Annotations[faultAnnotation]; has || pod.DeletionTimestamp != nil {
		return false
	}
	for _, ns := range []string{pod.Namespace, "kube-system"} {
		cm, err := configMaps.ConfigMaps(ns).Get("sim-image-faults")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(cm.Data["rules"], "\n") {
			line = strings.TrimSpace(line)
			pattern, fault, ok := strings.Cut(line, " ")
			if !ok || strings.HasPrefix(line, "#") {
				continue
			}
			for i, c := range pod.Spec.Containers {
				if !globMatch(pattern, c.Image) {
					continue
				}
				fault = strings.TrimSpace(fault)
				if i > 0 && !strings.Contains(fault, "container=") {
					fault += " container=" + c.Name
				}
				return annotateFault(ctx, client, pod, fault)
			}
		}
	}
	return false
}

// markNodeFault plays a fault set on a Node as the simulator's kubelet does:
// every pod on the node plays it, unless the pod has a fault of its own.
// kwok's pod stages read only the pod, so the pod gets the node's fault; a
// running pod gets it at the next resync. It reports whether it annotated
// the pod.
func markNodeFault(ctx context.Context, client kubernetes.Interface, nodes corelisters.NodeLister, pod *corev1.Pod) bool {
	if _, has := pod.Annotations[faultAnnotation]; has || pod.DeletionTimestamp != nil || pod.Spec.NodeName == "" {
		return false
	}
	node, err := nodes.Get(pod.Spec.NodeName)
	if err != nil || node.Annotations[faultAnnotation] == "" {
		return false
	}
	return annotateFault(ctx, client, pod, node.Annotations[faultAnnotation])
}

// annotateFault gives the pod the fault annotation kwok's stages play.
func annotateFault(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, fault string) bool {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, faultAnnotation, fault)
	_, err := client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	return err == nil
}

// markNotReady plays the node lifecycle controller for a pod whose kubelet
// stopped (`kubelet-stopped`): its Ready condition turns False, keeping the
// reason and message it had, and a NodeNotReady Warning is recorded, as
// MarkPodsNotReady does. The real controller does this only for a node whose
// Ready it turned Unknown itself, when heartbeats stop; kwok posts the
// Unknown status itself (it keeps renewing the node's Lease), so the
// controller sees no transition and would leave the pods Ready.
func markNotReady(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod) {
	if words := strings.Fields(pod.Annotations[faultAnnotation]); len(words) == 0 || words[0] != "kubelet-stopped" {
		return
	}
	updated := pod.DeepCopy()
	for i, c := range updated.Status.Conditions {
		if c.Type != corev1.PodReady || c.Status == corev1.ConditionFalse {
			continue
		}
		updated.Status.Conditions[i].Status = corev1.ConditionFalse
		updated.Status.Conditions[i].LastTransitionTime = metav1.Now()
		if _, err := client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
			return // a conflict: the pod comes back as an update
		}
		now := metav1.Now()
		event := &corev1.Event{
			ObjectMeta: metav1.ObjectMeta{GenerateName: pod.Name + ".", Namespace: pod.Namespace},
			InvolvedObject: corev1.ObjectReference{
				Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, APIVersion: "v1",
			},
			Reason:              "NodeNotReady",
			Message:             "Node is not ready",
			Type:                corev1.EventTypeWarning,
			Count:               1,
			FirstTimestamp:      now,
			LastTimestamp:       now,
			Source:              corev1.EventSource{Component: "node-controller"},
			ReportingController: "node-controller",
		}
		_, _ = client.CoreV1().Events(pod.Namespace).Create(ctx, event, metav1.CreateOptions{})
		return
	}
}

// globMatch matches `*` to any run of characters, as the simulator does.
func globMatch(pattern, s string) bool {
	re := "^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$"
	ok, _ := regexp.MatchString(re, s)
	return ok
}

// eventsFor is what a kubelet would report for the pod's fault now.
func eventsFor(pod *corev1.Pod) []podEvent {
	fault := pod.Annotations[faultAnnotation]
	words := strings.Fields(fault)
	if len(words) == 0 || pod.Spec.NodeName == "" || pod.DeletionTimestamp != nil || len(pod.Spec.Containers) == 0 {
		return nil
	}
	kind := words[0]
	container := pod.Spec.Containers[0]
	if name := param(containerParam, fault); name != "" {
		for _, c := range pod.Spec.Containers {
			if c.Name == name {
				container = c
			}
		}
	}
	if failsOnce(pod, kind) {
		// Not started again, so not backed off: the pod fails (kwok's
		// pod-complete stage) without a word from the kubelet.
		return nil
	}
	switch kind {
	case "sandbox-stuck":
		return []podEvent{{"Warning", "FailedCreatePodSandBox", fmt.Sprintf(
			"Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox %q: plugin type=\"cilium-cni\" failed (add): unable to allocate IP via local cilium agent: [POST /ipam][502] postIpamFailure  range is full",
			string(pod.UID))}}
	case "failed-mount":
		volume := param(volumeParam, fault)
		if volume == "" && len(pod.Spec.Volumes) > 0 {
			volume = pod.Spec.Volumes[0].Name
		}
		return []podEvent{{"Warning", "FailedMount", fmt.Sprintf(
			"MountVolume.SetUp failed for volume %q : secret %q not found", volume, volume)}}
	case "config-error":
		missing := param(missingParam, fault)
		if missing == "" {
			missing = "secret/app-secrets"
		}
		what, name, _ := strings.Cut(missing, "/")
		return []podEvent{{"Warning", "Failed", fmt.Sprintf("Error: %s %q not found", strings.ToLower(what), name)}}
	case "image-pull":
		// A kubelet backs off only after a pull failed, and says so first.
		return append(pullFailed(container.Image),
			podEvent{"Normal", "BackOff", fmt.Sprintf("Back-off pulling image %q", container.Image)},
			podEvent{"Warning", "Failed", "Error: ImagePullBackOff"},
		)
	case "err-image-pull":
		return pullFailed(container.Image)
	case "crash-loop", "oom-killed", "job-fail":
		return []podEvent{{"Warning", "BackOff", fmt.Sprintf(
			"Back-off restarting failed container %s in pod %s_%s(%s)", container.Name, pod.Name, pod.Namespace, pod.UID)}}
	case "liveness-kill":
		return []podEvent{
			{"Warning", "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500"},
			{"Normal", "Killing", fmt.Sprintf("Container %s failed liveness probe, will be restarted", container.Name)},
			{"Warning", "BackOff", fmt.Sprintf(
				"Back-off restarting failed container %s in pod %s_%s(%s)", container.Name, pod.Name, pod.Namespace, pod.UID)},
		}
	case "evicted":
		if pod.Status.Reason != "Evicted" {
			return nil
		}
		return []podEvent{
			{"Warning", "Evicted", pod.Status.Message},
			{"Normal", "Killing", fmt.Sprintf("Stopping container %s", container.Name)},
		}
	case "not-ready":
		return []podEvent{{"Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503"}}
	}
	return nil
}

// failsOnce says whether a container failing with this fault is left
// failed rather than restarted: under restartPolicy Never, and a `job-fail`
// container under any policy but OnFailure.
func failsOnce(pod *corev1.Pod, kind string) bool {
	switch kind {
	case "crash-loop", "oom-killed", "liveness-kill", "flapping":
		return pod.Spec.RestartPolicy == corev1.RestartPolicyNever
	case "job-fail":
		return pod.Spec.RestartPolicy != corev1.RestartPolicyOnFailure
	}
	return false
}

// pullFailed is what a kubelet reports when containerd cannot find an image.
func pullFailed(image string) []podEvent {
	return []podEvent{
		{"Warning", "Failed", fmt.Sprintf(
			"Failed to pull image %q: rpc error: code = NotFound desc = failed to pull and unpack image %q: failed to resolve reference %q: %s: not found",
			image, image, image, image)},
		{"Warning", "Failed", "Error: ErrImagePull"},
	}
}

// observe writes or repeats the pod's events, at most once per resync.
func (w *eventWriter) observe(ctx context.Context, pod *corev1.Pod) {
	for _, e := range eventsFor(pod) {
		key := fmt.Sprintf("%s/%s/%s", pod.UID, e.reason, e.message)
		w.mu.Lock()
		existing := w.counts[key]
		w.mu.Unlock()
		now := metav1.NewTime(time.Now())
		if existing != nil {
			// A pod that ended says it once: nothing is retried there.
			ended := pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded
			if ended || time.Since(existing.LastTimestamp.Time) < 4*time.Second {
				continue
			}
			updated := existing.DeepCopy()
			updated.Count++
			updated.LastTimestamp = now
			saved, err := w.client.CoreV1().Events(pod.Namespace).Update(ctx, updated, metav1.UpdateOptions{})
			if err == nil {
				w.remember(key, saved)
				continue
			}
			if !apierrors.IsNotFound(err) {
				continue
			}
		}
		event := &corev1.Event{
			ObjectMeta: metav1.ObjectMeta{
				GenerateName: pod.Name + ".",
				Namespace:    pod.Namespace,
			},
			InvolvedObject: corev1.ObjectReference{
				Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
				APIVersion: "v1", FieldPath: fmt.Sprintf("spec.containers{%s}", pod.Spec.Containers[0].Name),
			},
			Reason:              e.reason,
			Message:             e.message,
			Type:                e.kind,
			Count:               1,
			FirstTimestamp:      now,
			LastTimestamp:       now,
			Source:              corev1.EventSource{Component: "kubelet", Host: pod.Spec.NodeName},
			ReportingController: "kubelet",
			ReportingInstance:   pod.Spec.NodeName,
		}
		saved, err := w.client.CoreV1().Events(pod.Namespace).Create(ctx, event, metav1.CreateOptions{})
		if err == nil {
			w.remember(key, saved)
		}
	}
}

func (w *eventWriter) remember(key string, e *corev1.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.counts[key] = e
}

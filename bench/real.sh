# The real control plane's pairs, sourced by bench/run --real: the test bed
# of testbed/ (kube-apiserver, etcd, controller-manager, scheduler, kwok)
# with REAL_NODES kwok nodes (300) and REAL_PODS_PER_NODE pods (30) each: 9,000
# pods take about five minutes to start on 2 cores, while 30,000 take over
# half an hour with the control plane, kwok and the tools on the same 2
# cores (see bench/NOTES.md). Then stuck
# pods, node list and the 110-pod drain, each side by side with kubectl.
# shellcheck shell=bash

REAL_NODES=${REAL_NODES:-300}
REAL_PODS_PER_NODE=${REAL_PODS_PER_NODE:-30}
((QUICK)) && REAL_NODES=20 && REAL_PODS_PER_NODE=10
REAL_DIR="$WORK/testbed"

# The simulator's cluster is not needed any more; free its memory.
[[ -n "$SIM_PID" ]] && { kill "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null || true; SIM_PID=""; }
# Test timings (15 s to NotReady, evictions 10 s later, compaction every
# 30 s) would turn a busy control plane's late heartbeats into evictions and
# its long lists into expired continue tokens: use a real cluster's.
testbed/bin/testbed up --dir "$REAL_DIR" --nodes "$REAL_NODES" \
  --node-monitor-grace-period 50s --toleration-seconds 300 --compaction-interval 5m >/dev/null
stop_testbed() { testbed/bin/testbed down --dir "$REAL_DIR" >/dev/null 2>&1 || true; }
trap 'stop_testbed; cleanup' EXIT
export KUBECONFIG="$REAL_DIR/kubeconfig"
SIM_URL=""  # no request counter on a real API server

# One Deployment per node, pinned to it, as the simulator's generated cluster.
python3 - "$REAL_NODES" "$REAL_PODS_PER_NODE" >"$WORK/real-load.yaml" <<'PY'
import sys
nodes, per_node = int(sys.argv[1]), int(sys.argv[2])
for i in range(nodes):
    print(f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: load-{i}, namespace: default}}
spec:
  replicas: {per_node}
  selector: {{matchLabels: {{app: load-{i}}}}}
  template:
    metadata: {{labels: {{app: load-{i}}}}}
    spec:
      nodeSelector: {{kubernetes.io/hostname: testbed-node-{i:04d}}}
      containers: [{{name: app, image: registry.example.com/load:1}}]
---""")
PY
started=$SECONDS
$KC apply -f "$WORK/real-load.yaml" >/dev/null
want=$((REAL_NODES * REAL_PODS_PER_NODE))
until (( $($KC get pods -n default --field-selector=status.phase=Running --no-headers 2>/dev/null | wc -l) >= want )); do
  ((SECONDS - started < 3600)) || { echo "bench: the real cluster did not reach $want running pods in an hour" >&2; exit 1; }
  sleep 5
done
echo "real control plane ready: $REAL_NODES nodes, $want pods running after $((SECONDS - started)) s" >&2

# The server's own time spreads widely on 2 shared cores: 3 runs cannot tell
# 1.2x the floor from 1.5x (bench/NOTES.md), so the floor pairs run 9 times.
SAVED_REPS=$REPS
((QUICK)) || REPS=$((REPS > 9 ? REPS : 9))
floor_pairs "real control plane, $(printf "%'d" "$want") pods"
REPS=$SAVED_REPS
if ((!FLOOR_ONLY)); then
pair "real|stuck pods, whole cluster" \
  "oncall pods stuck -A" "$ONCALL pods stuck -A -o json" \
  "kubectl get pods -A -o json" "$KC get pods -A -o json"
pair "real|node list" \
  "oncall node list" "$ONCALL node list" \
  "kubectl get nodes" "$KC get nodes"

# real_drain_node NAME PODS: a kwok node running PODS pods that take 2 s to
# stop (slow-termination: they ignore SIGTERM for their whole grace period).
real_drain_node() {
  local node="$1" pods="$2"
  $KC apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Node
metadata:
  name: $node
  annotations: {kwok.x-k8s.io/node: fake}
  labels: {type: kwok, kubernetes.io/hostname: $node, node.kubernetes.io/pool: drain}
status:
  allocatable: {pods: "250", cpu: "64", memory: 256Gi}
  capacity: {pods: "250", cpu: "64", memory: 256Gi}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: $node, namespace: default}
spec:
  replicas: $pods
  selector: {matchLabels: {app: $node}}
  template:
    metadata:
      labels: {app: $node}
      annotations: {sim.oncall.dev/fault: slow-termination}
    spec:
      nodeSelector: {kubernetes.io/hostname: $node}
      terminationGracePeriodSeconds: 2
      containers: [{name: app, image: registry.example.com/load:1}]
YAML
  local started=$SECONDS
  until (( $($KC get pods -n default -l "app=$node" --field-selector=status.phase=Running --no-headers 2>/dev/null | wc -l) >= pods )); do
    ((SECONDS - started < 300)) || { echo "bench: $node's pods did not start" >&2; exit 1; }
    sleep 1
  done
}

DRAIN_PODS=110
DRAIN_REPS=$REPS
((QUICK)) && DRAIN_PODS=20 && DRAIN_REPS=1
echo "== real: drain a node with $DRAIN_PODS pods (2 s termination each)" >&2
for ((i = 0; i < DRAIN_REPS; i++)); do
  real_drain_node "drain-oncall-$i" "$DRAIN_PODS"
  measure "real|drain a $DRAIN_PODS-pod node|oncall node drain" "$ONCALL" node drain "drain-oncall-$i" --ignore-daemonsets --delete-emptydir-data --yes
  real_drain_node "drain-kubectl-$i" "$DRAIN_PODS"
  measure "real|drain a $DRAIN_PODS-pod node|kubectl drain" $KC drain "drain-kubectl-$i" --ignore-daemonsets --delete-emptydir-data
  # The drained pods are Pending (pinned to their node): remove them.
  $KC delete deployment "drain-oncall-$i" "drain-kubectl-$i" --wait=false >/dev/null
done

fi

# The control plane's own peak memory (VmHWM) per component.
supervisor=$(cat "$REAL_DIR/pid")
: >"$WORK/real-memory.tsv"
for pid in $(ps --ppid "$supervisor" -o pid=); do
  name=$(tr '\0' ' ' <"/proc/$pid/cmdline" | awk '{print $2}')
  [[ "$name" == --* || -z "$name" ]] && name=$(basename "$(tr '\0' ' ' <"/proc/$pid/cmdline" | awk '{print $1}')")
  hwm=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
  printf '%s\t%s\n' "$name" "$hwm" >>"$WORK/real-memory.tsv"
done
stop_testbed
REAL_SIZE="$REAL_NODES $REAL_PODS_PER_NODE"

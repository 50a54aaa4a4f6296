# Drain and rotation scenarios, sourced by bench/run. Each repetition gets a
# fresh simulator, since a drain changes the cluster.
# shellcheck shell=bash

# drain_seed FILE NODES PODS_PER_NODE POOL: nodes of POOL, each running one
# Deployment pinned to it. A grace period of 10 s under the sandbox's
# realistic timing (grace x 0.2) makes each pod take 2 s to terminate, and
# the slow-termination fault makes it use all of it.
drain_seed() {
  local file="$1" nodes="$2" per_node="$3" pool="$4" i
  : >"$file"
  for ((i = 0; i < nodes; i++)); do
    cat >>"$file" <<YAML
apiVersion: v1
kind: Node
metadata:
  name: $pool-$i
  labels: {kubernetes.io/hostname: $pool-$i, node.kubernetes.io/pool: $pool}
status:
  allocatable: {pods: "250", cpu: "64", memory: 256Gi}
  capacity: {pods: "250", cpu: "64", memory: 256Gi}
  conditions: [{type: Ready, status: "True"}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: load-$i, namespace: default}
spec:
  replicas: $per_node
  selector: {matchLabels: {app: load-$i}}
  template:
    metadata:
      labels: {app: load-$i}
      annotations: {sim.oncall.dev/fault: slow-termination}
    spec:
      nodeSelector: {kubernetes.io/hostname: $pool-$i}
      terminationGracePeriodSeconds: 10
      containers: [{name: app, image: registry.example.com/load:1}]
---
YAML
  done
}

# wait_running N: until N pods run (the seed's Deployments have settled).
wait_running() {
  local want="$1" started=$SECONDS
  until (( $($KC get pods -A --field-selector=status.phase=Running --no-headers 2>/dev/null | wc -l) >= want )); do
    ((SECONDS - started < 120)) || { echo "bench: pods did not start" >&2; exit 1; }
    sleep 0.5
  done
}

# The smoke run (--quick) keeps these short: fewer pods, fewer nodes, one pass.
DRAIN_PODS=110
DRAIN_REPS=$REPS
((QUICK)) && DRAIN_PODS=20 && DRAIN_REPS=1
drain_seed "$WORK/drain.yaml" 1 "$DRAIN_PODS" drain
echo "== drain a node with $DRAIN_PODS pods (2 s termination each)" >&2
for ((i = 0; i < DRAIN_REPS; i++)); do
  start_sim --seed "$WORK/drain.yaml"; wait_running "$DRAIN_PODS"
  measure "drain a $DRAIN_PODS-pod node|oncall node drain" "$ONCALL" node drain drain-0 --ignore-daemonsets --delete-emptydir-data --yes
  start_sim --seed "$WORK/drain.yaml"; wait_running "$DRAIN_PODS"
  measure "drain a $DRAIN_PODS-pod node|kubectl drain" $KC drain drain-0 --ignore-daemonsets --delete-emptydir-data
done

ROTATE_NODES=20
ROTATE_PODS=10
((QUICK)) && ROTATE_NODES=4
drain_seed "$WORK/rotate.yaml" "$ROTATE_NODES" "$ROTATE_PODS" old
echo "== rotate a $ROTATE_NODES-node pool (--batch 4) against sequential kubectl drains" >&2
for ((i = 0; i < DRAIN_REPS; i++)); do
  start_sim --seed "$WORK/rotate.yaml"; wait_running $((ROTATE_NODES * ROTATE_PODS))
  measure "rotate a $ROTATE_NODES-node pool|oncall node rotate --batch 4" \
    "$ONCALL" node rotate -l node.kubernetes.io/pool=old --batch 4 --no-terminate --ignore-daemonsets --delete-emptydir-data --yes
  start_sim --seed "$WORK/rotate.yaml"; wait_running $((ROTATE_NODES * ROTATE_PODS))
  nodes=$(seq -f "old-%g" 0 $((ROTATE_NODES - 1)) | tr '\n' ' ')
  measure "rotate a $ROTATE_NODES-node pool|kubectl drain, one after another" \
    bash -c "$KC cordon $nodes >/dev/null && for n in $nodes; do $KC drain \$n --ignore-daemonsets --delete-emptydir-data >/dev/null || exit 1; done"
done

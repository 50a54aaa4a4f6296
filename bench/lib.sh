# Shared by bench/run and the scenario scripts it sources: the simulator,
# one measured run, and alternating pairs. Expects ONCALL, WORK and REPS.
# shellcheck shell=bash

export HOME="$WORK/home" XDG_STATE_HOME="$WORK/state" XDG_CONFIG_HOME="$WORK/config" NO_COLOR=1
mkdir -p "$HOME"

# start_sim ARGS...: serves a cluster, sets KUBECONFIG and SIM_URL.
start_sim() {
  [[ -n "$SIM_PID" ]] && { kill "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null || true; }
  export KUBECONFIG="$WORK/kubeconfig"
  rm -f "$KUBECONFIG"
  "$ONCALL" sandbox serve --kubeconfig-out "$KUBECONFIG" "$@" >"$WORK/sim.out" 2>"$WORK/sim.err" &
  SIM_PID=$!
  local started=$SECONDS
  until [[ -s "$KUBECONFIG" ]] && grep -q "serving at" "$WORK/sim.out"; do
    kill -0 "$SIM_PID" 2>/dev/null || { cat "$WORK/sim.err" >&2; echo "bench: the simulator did not start" >&2; exit 1; }
    ((SECONDS - started < 300)) || { echo "bench: the simulator took over 300 s to start" >&2; exit 1; }
    sleep 0.2
  done
  SIM_URL="$(sed -n 's/.*serving at \(http[^ ]*\).*/\1/p' "$WORK/sim.out")"
  echo "simulator ready at $SIM_URL after $((SECONDS - started)) s ($*)" >&2
}

requests() { curl -sf "$SIM_URL/debug/requests" 2>/dev/null || echo -1; }

RESULTS="$WORK/results.tsv"
: >"$RESULTS"

# measure LABEL CMD...: one run; appends "label wall_s rss_kib requests exit
# cpu_s" (user + system CPU of the command and its children).
measure() {
  local label="$1"; shift
  local before after t0 t1 code=0
  before=$(requests)
  t0=$(date +%s.%N)
  /usr/bin/time -f "%M %U %S" -o "$WORK/rss" "$@" >/dev/null 2>"$WORK/last.err" || code=$?
  t1=$(date +%s.%N)
  after=$(requests)
  local reqs=-1
  ((before >= 0 && after >= 0)) && reqs=$((after - before - 1))
  local rss user sys
  read -r rss user sys < <(tail -1 "$WORK/rss")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$(python3 -c "print($t1-$t0)")" "$rss" "$reqs" "$code" \
    "$(python3 -c "print(${user:-0}+${sys:-0})")" >>"$RESULTS"
}

# pair SCENARIO "A label" "A command" "B label" "B command": warm-up, then alternate.
pair() {
  local scenario="$1" la="$2" ca="$3" lb="$4" cb="$5"
  echo "== $scenario" >&2
  bash -c "$ca" >/dev/null 2>&1 || true
  bash -c "$cb" >/dev/null 2>&1 || true
  for ((i = 0; i < REPS; i++)); do
    measure "$scenario|$la" bash -c "$ca"
    measure "$scenario|$lb" bash -c "$cb"
  done
}


#!/usr/bin/env bash
# Benchmark: `oncall dns resolve` against `dig`, same local server, same run.
#
# Starts the example DNS server (hickory-server, zone example.com on
# 127.0.0.1, a free port), then runs, alternately (A B A B ...):
#   oncall dns resolve NAME --server 127.0.0.1:PORT
#   dig @127.0.0.1 -p PORT NAME
# after a warm-up, and prints the median/min/max wall time and peak RSS of
# each, and the ratio of the medians. Target: oncall at most 1.5x dig.
#
# Usage: bench/dns.sh [--quick] [--runs N] [--name NAME]
#   --quick   3 repetitions instead of 15 (a smoke run)
#   --runs N  N repetitions (at least 5 for numbers worth reporting)
#   --name    the name to resolve (default shop.example.com: a 2-link CNAME chain)
#
# Needs: cargo, dig (Debian/Ubuntu: `apt-get install bind9-dnsutils`),
# /usr/bin/time for peak RSS (optional; Debian package `time`).
set -euo pipefail

runs=15
name=shop.example.com
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) runs=3 ;;
        --runs) runs="$2"; shift ;;
        --name) name="$2"; shift ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

cd "$(dirname "$0")/.."

if ! command -v dig >/dev/null; then
    echo "dig is not installed; install it with: sudo apt-get install bind9-dnsutils" >&2
    exit 2
fi
timer=""
if [[ -x /usr/bin/time ]] && /usr/bin/time -v true 2>/dev/null; then
    timer=/usr/bin/time
else
    echo "note: /usr/bin/time -v not available (Debian package \`time\`); peak RSS not measured" >&2
fi

work=$(mktemp -d)
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "building (release)..." >&2
if ! cargo build --release --bin oncall --example dns-bench-server 2>"$work/build.log"; then
    cat "$work/build.log" >&2
    exit 1
fi
oncall=target/release/oncall
server_bin=target/release/examples/dns-bench-server

"$server_bin" >"$work/server.out" &
server_pid=$!
for _ in $(seq 100); do
    grep -q '^PORT ' "$work/server.out" 2>/dev/null && break
    sleep 0.05
done
port=$(awk '/^PORT /{print $2}' "$work/server.out")
[[ -n "$port" ]] || { echo "the DNS server did not start" >&2; exit 1; }

# Commands under test. dig's defaults (recursion flag, EDNS, one query)
# match what oncall sends; both print the answer to stdout.
cmd_oncall=("$oncall" dns resolve "$name" --server "127.0.0.1:$port")
cmd_dig=(dig @127.0.0.1 -p "$port" "$name")

# Both must actually answer before we time anything.
"${cmd_oncall[@]}" >"$work/oncall.txt" || { echo "oncall failed:"; cat "$work/oncall.txt"; exit 1; } >&2
"${cmd_dig[@]}" >"$work/dig.txt" || { echo "dig failed:"; cat "$work/dig.txt"; exit 1; } >&2
grep -q "10.0.0.1" "$work/oncall.txt" && grep -q "10.0.0.1" "$work/dig.txt" || {
    echo "the answers do not contain 10.0.0.1" >&2; exit 1;
}

# One timed run: appends "seconds rss_kb" to the tool's file.
run_once() {
    local tool=$1; shift
    local start end rss=0
    if [[ -n "$timer" ]]; then
        start=$(date +%s%N)
        "$timer" -v -o "$work/time.txt" "$@" >/dev/null 2>&1
        end=$(date +%s%N)
        rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$work/time.txt")
    else
        start=$(date +%s%N)
        "$@" >/dev/null 2>&1
        end=$(date +%s%N)
    fi
    echo "$(( (end - start) / 1000 )) $rss" >>"$work/$tool.runs"
}

# Warm-up: page cache, the server's first connection.
for _ in 1 2 3; do
    "${cmd_oncall[@]}" >/dev/null 2>&1
    "${cmd_dig[@]}" >/dev/null 2>&1
done

: >"$work/oncall.runs"
: >"$work/dig.runs"
for i in $(seq "$runs"); do
    # Alternate which goes first so neither always gets the warmer start.
    if (( i % 2 )); then
        run_once oncall "${cmd_oncall[@]}"
        run_once dig "${cmd_dig[@]}"
    else
        run_once dig "${cmd_dig[@]}"
        run_once oncall "${cmd_oncall[@]}"
    fi
done

# median min max of the wall times (microseconds), and the peak RSS.
stats() {
    sort -n "$1" | awk '
        { t[NR] = $1; if ($2 > rss) rss = $2 }
        END {
            n = NR
            med = (n % 2) ? t[(n + 1) / 2] : (t[n / 2] + t[n / 2 + 1]) / 2
            printf "%d %d %d %d\n", med, t[1], t[n], rss
        }'
}
read -r o_med o_min o_max o_rss < <(stats "$work/oncall.runs")
read -r d_med d_min d_max d_rss < <(stats "$work/dig.runs")

ms() { awk -v us="$1" 'BEGIN { printf "%.1f", us / 1000 }'; }
rss() { if [[ "$1" -gt 0 ]]; then awk -v kb="$1" 'BEGIN { printf "%.1f MiB", kb / 1024 }'; else echo "n/a"; fi; }

ratio=$(awk -v o="$o_med" -v d="$d_med" 'BEGIN { printf "%.2f", o / d }')
echo
echo "dns resolve $name, local hickory-server on 127.0.0.1:$port, $runs runs each (alternating, after warm-up)"
printf "%-8s %10s %10s %10s %12s\n" TOOL MEDIAN MIN MAX "PEAK RSS"
printf "%-8s %8sms %8sms %8sms %12s\n" oncall "$(ms "$o_med")" "$(ms "$o_min")" "$(ms "$o_max")" "$(rss "$o_rss")"
printf "%-8s %8sms %8sms %8sms %12s\n" dig "$(ms "$d_med")" "$(ms "$d_min")" "$(ms "$d_max")" "$(rss "$d_rss")"
echo "ratio (median oncall / median dig): ${ratio}x (target: at most 1.5x)"
if awk -v r="$ratio" 'BEGIN { exit !(r <= 1.5) }'; then
    echo "target met"
else
    echo "target NOT met"
    exit 1
fi

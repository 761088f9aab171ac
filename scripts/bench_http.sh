#!/usr/bin/env bash
# HTTP benchmark (`make bench-http`): swift-miniss's http-echo (io_uring, epoll, 2 shards) against
# its SwiftNIO peer nio-http-echo (Benchmarks/), measured in one run with wrk.
#
# For each server configuration and for each mode (no pipelining; 16 pipelined requests per
# write) it reports requests/s and the server's CPU time per request: utime + stime of the whole
# server process (all threads, /proc/PID/stat) across the measured wrk run, divided by the
# requests wrk completed. The server runs on CPU 0 (taskset) and wrk on CPU 1, so each has a core
# of its own; miniss-uring-2shards has both CPUs and shares them with wrk. A short warm-up run
# precedes each measured one. wrk's socket errors and non-2xx responses are recorded: any of
# them fails the run (exit status 2) after the results are written.
#
# Writes docs/benchmarks/http.json (machine-readable) and docs/benchmarks/http.md (table, ratios
# vs NIO, and the targets met or not).
#
# Usage: scripts/bench_http.sh [--duration SECONDS] [--connections N] [--only NAME[,NAME]]
#                              [--allow-missing] [--no-build] [--output-dir DIR]
set -euo pipefail

readonly all_configurations=(miniss-uring miniss-epoll nio miniss-uring-2shards)
readonly pipeline_depth=16
readonly warmup_seconds=2
readonly ready_timeout_seconds=30
readonly host=127.0.0.1

usage() {
    cat <<EOF
usage: scripts/bench_http.sh [options]
  --duration SECONDS     length of each measured wrk run (default 10)
  --connections N        wrk connections (default 64)
  --only NAME[,NAME]     run only these configurations: ${all_configurations[*]}
  --allow-missing        skip a configuration whose server does not build, instead of failing
  --no-build             use the release binaries as they are
  --output-dir DIR       where http.json and http.md go (default docs/benchmarks)
EOF
}

die() {
    echo "bench_http: error: $*" >&2
    exit 1
}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

duration_seconds=10
connections=64
only=""
allow_missing=0
build=1
output_dir=docs/benchmarks
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) duration_seconds=${2:?--duration needs a value}; shift 2 ;;
        --connections) connections=${2:?--connections needs a value}; shift 2 ;;
        --only) only=${2:?--only needs a value}; shift 2 ;;
        --allow-missing) allow_missing=1; shift ;;
        --no-build) build=0; shift ;;
        --output-dir) output_dir=${2:?--output-dir needs a value}; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown option '$1'" ;;
    esac
done
[[ "$duration_seconds" =~ ^[1-9][0-9]*$ ]] || die "--duration must be a whole number of seconds, got '$duration_seconds'"
[[ "$connections" =~ ^[1-9][0-9]*$ ]] || die "--connections must be a positive integer, got '$connections'"

configurations=()
if [ -z "$only" ]; then
    configurations=("${all_configurations[@]}")
else
    IFS=',' read -ra requested <<<"$only"
    for name in "${requested[@]}"; do
        [[ " ${all_configurations[*]} " == *" $name "* ]] ||
            die "unknown configuration '$name' in --only (known: ${all_configurations[*]})"
        configurations+=("$name")
    done
fi

# --- tools -------------------------------------------------------------------------------------
# shellcheck source=scripts/lib.sh
source "$repo/scripts/lib.sh"
install_missing wrk:wrk curl:curl taskset:util-linux python3:python3
# Many connections need more than the usual 1024 descriptors; the servers inherit the limit.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (server on CPU 0, wrk on CPU 1); this machine has $(nproc)"

# --- configurations ----------------------------------------------------------------------------
miniss_binary=.build/release/http-echo
nio_binary=Benchmarks/.build/release/nio-http-echo

binary_of() {
    case "$1" in
        nio) echo "$nio_binary" ;;
        *) echo "$miniss_binary" ;;
    esac
}
arguments_of() { # NAME PORT
    case "$1" in
        miniss-uring) echo "--host $host --port $2 --backend uring --shards 1" ;;
        miniss-epoll) echo "--host $host --port $2 --backend epoll --shards 1" ;;
        nio) echo "--host $host --port $2 --threads 1" ;;
        miniss-uring-2shards) echo "--host $host --port $2 --backend uring --shards 2" ;;
    esac
}
server_cpus_of() { [ "$1" = miniss-uring-2shards ] && echo 0,1 || echo 0; }
wrk_cpus_of() { [ "$1" = miniss-uring-2shards ] && echo 0,1 || echo 1; }

wants() { [[ " ${configurations[*]} " == *" $1 "* ]]; }
wants_miniss() { wants miniss-uring || wants miniss-epoll || wants miniss-uring-2shards; }

unavailable=" " # configurations skipped under --allow-missing, space-separated

# Builds one server; a failure is fatal unless --allow-missing, which skips its configurations.
build_server() { # LABEL BINARY CONFIGURATION... -- COMMAND...
    local label=$1 binary=$2
    shift 2
    local names=()
    while [ "$1" != "--" ]; do names+=("$1"); shift; done
    shift
    if [ "$build" -eq 1 ]; then
        echo "building $label: $*"
        if ! "$@"; then
            [ "$allow_missing" -eq 1 ] || die "building $label failed (pass --allow-missing to skip ${names[*]})"
            echo "bench_http: skipping ${names[*]}: building $label failed" >&2
            unavailable+="${names[*]} "
            return 0
        fi
    fi
    if [ ! -x "$binary" ]; then
        [ "$allow_missing" -eq 1 ] || die "$binary is missing (build it, or pass --allow-missing to skip ${names[*]})"
        echo "bench_http: skipping ${names[*]}: $binary is missing" >&2
        unavailable+="${names[*]} "
    fi
}
if wants_miniss; then
    build_server http-echo "$miniss_binary" miniss-uring miniss-epoll miniss-uring-2shards -- \
        swift build -c release --product http-echo
fi
if wants nio; then
    build_server nio-http-echo "$nio_binary" nio -- \
        swift build -c release --package-path Benchmarks --product nio-http-echo
fi

# --- running -----------------------------------------------------------------------------------
work=$(mktemp -d -t bench-http.XXXXXX)
server_pid=""
stop_server() {
    [ -n "$server_pid" ] || return 0
    local pid=$server_pid
    server_pid=""
    stop_pid "$pid"
}
cleanup() {
    stop_server || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts a server and polls it with curl until it answers GET / with the expected body.
start_server() { # NAME PORT LOG
    local name=$1 port=$2 log=$3
    local -a command
    read -ra command <<<"$(binary_of "$name") $(arguments_of "$name" "$port")"
    echo "starting $name on CPU $(server_cpus_of "$name"): ${command[*]}"
    taskset -c "$(server_cpus_of "$name")" "${command[@]}" >"$log" 2>&1 &
    server_pid=$!
    local deadline=$((SECONDS + ready_timeout_seconds)) body
    while true; do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            server_pid=""
            echo "--- $log" >&2
            tail -20 "$log" >&2
            die "$name exited before answering on $host:$port (its output is above)"
        fi
        if body=$(curl -s --max-time 1 "http://$host:$port/" 2>/dev/null); then
            [ "$body" = "Hello, world!" ] || die "$name answered GET / with '$body', not 'Hello, world!'"
            return 0
        fi
        [ "$SECONDS" -lt "$deadline" ] ||
            die "$name did not answer on $host:$port within ${ready_timeout_seconds}s; its output: $(tail -5 "$log")"
        sleep 0.1
    done
}

# utime + stime of the whole process (all its threads), in clock ticks.
cpu_ticks() { # PID
    local stat rest
    stat=$(<"/proc/$1/stat")
    rest=${stat##*) } # the command name may hold spaces and parentheses
    local -a fields
    read -ra fields <<<"$rest"
    echo $((fields[11] + fields[12])) # fields 14 and 15 of proc(5), counted from 'state' = 3
}

run_wrk() { # NAME PORT DEPTH SECONDS OUTPUT
    local name=$1 port=$2 depth=$3 seconds=$4 output=$5
    taskset -c "$(wrk_cpus_of "$name")" wrk -t1 -c"$connections" -d"${seconds}s" \
        -s scripts/wrk-pipeline.lua "http://$host:$port/" -- "$depth" >"$output" 2>&1 ||
        die "wrk failed against $name: $(tail -5 "$output")"
}

clock_ticks_per_second=$(getconf CLK_TCK)
for name in "${configurations[@]}"; do
    if [[ "$unavailable" == *" $name "* ]]; then
        echo "{\"skipped\": \"$(binary_of "$name") is missing or did not build\"}" >"$work/$name.skipped.json"
        continue
    fi
    port=$(free_port)
    start_server "$name" "$port" "$work/$name.log"
    for mode in non_pipelined pipelined; do
        depth=1
        [ "$mode" = pipelined ] && depth=$pipeline_depth
        echo "  $mode: warm-up ${warmup_seconds}s, then ${duration_seconds}s with $connections connections"
        run_wrk "$name" "$port" "$depth" "$warmup_seconds" "$work/$name.$mode.warmup.txt"
        ticks_before=$(cpu_ticks "$server_pid")
        run_wrk "$name" "$port" "$depth" "$duration_seconds" "$work/$name.$mode.txt"
        ticks_after=$(cpu_ticks "$server_pid")
        line=$(grep '^wrk-json: ' "$work/$name.$mode.txt") ||
            die "wrk printed no result against $name: $(tail -5 "$work/$name.$mode.txt")"
        printf '{"cpu_ticks": %d, "depth": %d, "wrk": %s}\n' \
            $((ticks_after - ticks_before)) "$depth" "${line#wrk-json: }" >"$work/$name.$mode.json"
    done
    stop_status=0
    stop_server || stop_status=$?
    [ "$stop_status" -eq 0 ] || echo "bench_http: warning: $name exited with status $stop_status on SIGTERM" >&2
done

# --- report ------------------------------------------------------------------------------------
mkdir -p "$output_dir"
command_line="scripts/bench_http.sh --duration $duration_seconds --connections $connections"
[ -n "$only" ] && command_line+=" --only $only"
python3 - "$work" "$output_dir" "$clock_ticks_per_second" "$duration_seconds" "$connections" \
    "$pipeline_depth" "$warmup_seconds" "$command_line" "${configurations[@]}" <<'PY'
import datetime, json, os, platform, subprocess, sys

work, output_dir, tck, duration, connections, depth, warmup, command_line = sys.argv[1:9]
names = sys.argv[9:]
tck, depth = int(tck), int(depth)
modes = ["non_pipelined", "pipelined"]

def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"

def git_revision():
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except OSError:
        return "unknown"

def wrk_version():
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return (out.stdout or out.stderr).splitlines()[0].split(" Copyright")[0].strip()

pinning = {
    "miniss-uring-2shards": ("0,1", "0,1"),
}
report = {
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "kernel": platform.release(),
    "cpu_model": cpu_model(),
    "cpus": os.cpu_count(),
    "revision": git_revision(),
    "command": command_line,
    "wrk": wrk_version(),
    "wrk_threads": 1,
    "connections": int(connections),
    "duration_s": int(duration),
    "warmup_s": int(warmup),
    "pipeline_depth": depth,
    "clock_ticks_per_s": tck,
    "configurations": {},
}
failures = []
for name in names:
    skipped = os.path.join(work, f"{name}.skipped.json")
    if os.path.exists(skipped):
        with open(skipped) as f:
            report["configurations"][name] = json.load(f)
        continue
    server_cpus, wrk_cpus = pinning.get(name, ("0", "1"))
    entry = {"server_cpus": server_cpus, "wrk_cpus": wrk_cpus, "modes": {}}
    for mode in modes:
        with open(os.path.join(work, f"{name}.{mode}.json")) as f:
            raw = json.load(f)
        w = raw["wrk"]
        errors = {k: w["errors"][k] for k in ("connect", "read", "write", "timeout")}
        cpu_s = raw["cpu_ticks"] / tck
        requests = w["requests"]
        result = {
            "pipeline_depth": raw["depth"],
            "requests": requests,
            "duration_s": round(w["duration_us"] / 1e6, 3),
            "requests_per_s": round(requests / (w["duration_us"] / 1e6), 1),
            "server_cpu_s": round(cpu_s, 3),
            "cpu_us_per_request": round(cpu_s * 1e6 / requests, 3) if requests else None,
            "errors": sum(errors.values()),
            "socket_errors": errors,
            "non_2xx": w["errors"]["status"],
            "latency_avg_us": round(w["latency_us"]["mean"], 1),
            "latency_p50_us": w["latency_us"]["p50"],
            # wrk 4.1 answers 0 when its histogram holds fewer samples than its counter, as it can
            # when pipelining: no figure rather than a wrong one.
            "latency_p99_us": w["latency_us"]["p99"] or None,
            "latency_max_us": w["latency_us"]["max"],
        }
        if result["errors"] or result["non_2xx"] or not requests:
            failures.append(f"{name} {mode}: {requests} requests, socket errors {errors}, non-2xx {result['non_2xx']}")
        entry["modes"][mode] = result
    report["configurations"][name] = entry

with open(os.path.join(output_dir, "http.json"), "w") as f:
    json.dump(report, f, indent=2)
    f.write("\n")

configurations = report["configurations"]
def measured(name, mode):
    c = configurations.get(name)
    return c["modes"][mode] if c and "modes" in c else None

def ratio(value, base):
    return value / base if value is not None and base else None

def fmt_ratio(r):
    return "n/a" if r is None else f"{r:.2f}×"

def fmt_latency(us):
    if us is None:
        return "n/a"
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"

mode_label = {"non_pipelined": "no pipelining", "pipelined": f"pipelined ×{depth}"}
lines = [
    "# HTTP benchmark: http-echo vs SwiftNIO",
    "",
    f"Measured {report['date']} by `{command_line}` (`make bench-http`) at {report['revision']}; "
    f"kernel {report['kernel']}, {report['cpu_model']}, {report['cpus']} CPUs; {report['wrk']}.",
    "",
    f"wrk: 1 thread, {connections} keep-alive connections, {duration} s measured after a {warmup} s warm-up, "
    f"`GET /` answered with 13 bytes. Pipelined: {depth} requests per write (`scripts/wrk-pipeline.lua`); "
    "wrk counts each response, but its latency is then per batch. The server is pinned to CPU 0 and wrk "
    "to CPU 1, except `miniss-uring-2shards`, whose two shards share CPUs 0–1 with wrk. "
    "CPU/request is the server's user + system time (all threads, `/proc/PID/stat`) during the measured "
    "run divided by the requests completed. ×nio: ratio to `nio` in the same mode (req/s: higher is better; "
    "CPU: lower is better).",
    "",
    "| configuration | mode | requests/s | ×nio | CPU µs/request | ×nio | latency avg | p99 | errors | non-2xx |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
]
for name in names:
    c = configurations[name]
    if "skipped" in c:
        lines.append(f"| {name} | — | skipped: {c['skipped']} | | | | | | | |")
        continue
    for mode in modes:
        r = c["modes"][mode]
        nio = measured("nio", mode)
        lines.append(
            f"| {name} | {mode_label[mode]} | {r['requests_per_s']:,.0f} "
            f"| {fmt_ratio(ratio(r['requests_per_s'], nio and nio['requests_per_s']))} "
            f"| {r['cpu_us_per_request']:.2f} "
            f"| {fmt_ratio(ratio(r['cpu_us_per_request'], nio and nio['cpu_us_per_request']))} "
            f"| {fmt_latency(r['latency_avg_us'])} | {fmt_latency(r['latency_p99_us'])} "
            f"| {r['errors']} | {r['non_2xx']} |"
        )

targets = [
    ("CPU/request ≤ 0.5× NIO, no pipelining", "non_pipelined", "nio", 0.5),
    (f"CPU/request ≤ 0.1× NIO, pipelined ×{depth}", "pipelined", "nio", 0.1),
    ("CPU/request ≤ 8 µs, no pipelining", "non_pipelined", None, 8.0),
    (f"CPU/request ≤ 1 µs, pipelined ×{depth}", "pipelined", None, 1.0),
]
single_shard = [n for n in ("miniss-uring", "miniss-epoll") if measured(n, "pipelined")]
if single_shard:
    lines += ["", "## Targets (one shard, one core)", "",
              "| target | " + " | ".join(single_shard) + " |",
              "|---|" + "---|" * len(single_shard)]
    for label, mode, base, limit in targets:
        cells = []
        for name in single_shard:
            cpu = measured(name, mode)["cpu_us_per_request"]
            if base is None:
                value, shown = cpu, f"{cpu:.2f} µs"
            else:
                b = measured(base, mode)
                value = ratio(cpu, b and b["cpu_us_per_request"])
                shown = fmt_ratio(value)
            verdict = "n/a (no nio run)" if value is None else ("met" if value <= limit else "not met")
            cells.append(f"{shown}: {verdict}" if value is not None else verdict)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

two = measured("miniss-uring-2shards", "non_pipelined")
if two:
    lines += ["", "## 2 shards vs 1 (io_uring)", "",
              "Two shards run unpinned on CPUs 0–1 and share them with wrk, so wrk and the shards compete "
              "for the same two cores: read this as a check that a second shard scales, not as a peak figure.", "",
              "| mode | 1 shard req/s | 2 shards req/s | 2 ÷ 1 | 1 shard CPU µs/req | 2 shards CPU µs/req |",
              "|---|---:|---:|---:|---:|---:|"]
    for mode in modes:
        a, b = measured("miniss-uring", mode), measured("miniss-uring-2shards", mode)
        if a:
            lines.append(f"| {mode_label[mode]} | {a['requests_per_s']:,.0f} | {b['requests_per_s']:,.0f} "
                         f"| {fmt_ratio(ratio(b['requests_per_s'], a['requests_per_s']))} "
                         f"| {a['cpu_us_per_request']:.2f} | {b['cpu_us_per_request']:.2f} |")
        else:
            lines.append(f"| {mode_label[mode]} | n/a | {b['requests_per_s']:,.0f} | n/a | n/a "
                         f"| {b['cpu_us_per_request']:.2f} |")

if failures:
    lines += ["", "## Errors", "", "wrk reported errors (there must be none):", ""]
    lines += [f"- {f}" for f in failures]

text = "\n".join(lines) + "\n"
with open(os.path.join(output_dir, "http.md"), "w") as f:
    f.write(text)
print()
print(text)
print(f"wrote {os.path.join(output_dir, 'http.json')} and {os.path.join(output_dir, 'http.md')}")
if failures:
    print("bench_http: error: wrk reported errors:\n  " + "\n  ".join(failures), file=sys.stderr)
    sys.exit(2)
PY

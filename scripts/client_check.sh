#!/usr/bin/env bash
# Checks that an HTTP server answers real clients correctly and with zero errors (`make clients`):
#   curl    exact GET body, HEAD, POST/PUT echo (small, 100 KB, chunked), HTTP/1.0, keep-alive reuse, 405
#   ab      -k at 1, 64 and 1000 concurrent connections
#   h2load  --h1 at 1, 64 and 1000 clients
#   wrk     64 and 1000 connections, and 64 connections pipelined ×16
# Every client's own failure and error counts are parsed; the script prints a summary table and
# exits non-zero if any client saw an error, a non-2xx answer or a wrong body.
#
# The server must answer GET / with "Hello, world!" and echo POST/PUT bodies (http-echo,
# Benchmarks/nio-http-echo). Open-file limits are raised for 1000 connections; a server started
# with --start inherits the raised limit.
#
# Usage: scripts/client_check.sh [--host H] [--port P] [--start "CMD"] [--seconds S]
#   --start "CMD"  start the server with CMD (it must listen on H:P), stop it afterwards, and
#                  check that it exits 0 on SIGTERM
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}
die() {
    echo "client_check: error: $*" >&2
    exit 1
}

host=127.0.0.1
port=8080
start_command=""
wrk_seconds=3
readonly ready_timeout_seconds=30
while [ $# -gt 0 ]; do
    case "$1" in
        --host) host=${2:?--host needs a value}; shift 2 ;;
        --port) port=${2:?--port needs a value}; shift 2 ;;
        --start) start_command=${2:?--start needs a command}; shift 2 ;;
        --seconds) wrk_seconds=${2:?--seconds needs a value}; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown option '$1'" ;;
    esac
done
[[ "$port" =~ ^[0-9]+$ ]] || die "--port must be a number, got '$port'"
[[ "$wrk_seconds" =~ ^[1-9][0-9]*$ ]] || die "--seconds must be a whole number, got '$wrk_seconds'"

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
url="http://$host:$port"

# --- tools -------------------------------------------------------------------------------------
# shellcheck source=scripts/lib.sh
source "$repo/scripts/lib.sh"
install_missing curl:curl ab:apache2-utils h2load:nghttp2-client wrk:wrk python3:python3

# 1000 connections need more than the usual 1024 descriptors, in the clients and the server.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
open_files=$(ulimit -n)
if [ "$open_files" != unlimited ] && [ "$open_files" -lt 2100 ]; then
    echo "client_check: warning: only $open_files open files allowed; the 1000-connection runs may fail" >&2
fi

# --- the server --------------------------------------------------------------------------------
work=$(mktemp -d -t client-check.XXXXXX)
server_pid=""
server_status=""
stop_server() { # sets server_status
    local pid=$server_pid status=0
    server_pid=""
    stop_pid "$pid" || status=$?
    server_status=$status
}
cleanup() {
    [ -z "$server_pid" ] || stop_server
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_ready() {
    local deadline=$((SECONDS + ready_timeout_seconds))
    until curl -s -o /dev/null --max-time 1 "$url/"; do
        if [ -n "$server_pid" ] && ! kill -0 "$server_pid" 2>/dev/null; then
            server_pid=""
            tail -20 "$work/server.log" >&2
            die "the server exited before answering on $host:$port (its output is above)"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            [ -z "$start_command" ] || tail -5 "$work/server.log" >&2
            die "nothing answers on $url/ after ${ready_timeout_seconds}s"
        fi
        sleep 0.1
    done
}

if [ -n "$start_command" ]; then
    echo "starting: $start_command"
    # exec: the shell becomes the server, so $! is the server's pid.
    bash -c "exec $start_command" >"$work/server.log" 2>&1 &
    server_pid=$!
fi
wait_ready
echo "checking $url/ (open files: $open_files)"

# --- results -----------------------------------------------------------------------------------
results=() # "client<TAB>check<TAB>PASS|FAIL<TAB>detail"
failures=0
record() { # CLIENT CHECK OK(0|1) DETAIL
    local verdict=PASS
    if [ "$3" -ne 0 ]; then
        verdict=FAIL
        failures=$((failures + 1))
    fi
    results+=("$1"$'\t'"$2"$'\t'"$verdict"$'\t'"$4")
    printf '  %-7s %-34s %s  %s\n' "$1" "$2" "$verdict" "$4"
}

# --- curl --------------------------------------------------------------------------------------
head -c 102400 /dev/urandom >"$work/body-100k"
printf 'hello, echo' >"$work/body-small"

# curl_check NAME EXPECTED_STATUS EXPECTED_BODY_FILE|- CURL_ARGS... : status and exact body.
curl_check() {
    local name=$1 want_status=$2 want_body=$3
    shift 3
    local status ok=0 detail
    if ! status=$(curl -s -o "$work/out" -w '%{http_code}' --max-time 10 "$@" 2>"$work/curl.err"); then
        record curl "$name" 1 "curl failed: $(head -c 200 "$work/curl.err")"
        return
    fi
    detail="status $status"
    [ "$status" = "$want_status" ] || { ok=1; detail+=" (want $want_status)"; }
    if [ "$want_body" != - ]; then
        if cmp -s "$work/out" "$want_body"; then
            detail+=", body exact ($(wc -c <"$work/out") bytes)"
        else
            ok=1
            detail+=", body differs ($(wc -c <"$work/out") bytes, want $(wc -c <"$want_body"))"
        fi
    fi
    record curl "$name" "$ok" "$detail"
}

printf 'Hello, world!' >"$work/hello"
: >"$work/empty"
curl_check "GET / body" 200 "$work/hello" "$url/"
curl_check "GET /some/path?q=1 body" 200 "$work/hello" "$url/some/path?q=1"
curl_check "POST echo (11 bytes)" 200 "$work/body-small" --data-binary @"$work/body-small" "$url/"
curl_check "POST echo (100 KB)" 200 "$work/body-100k" --data-binary @"$work/body-100k" "$url/"
curl_check "PUT echo (100 KB)" 200 "$work/body-100k" -X PUT --data-binary @"$work/body-100k" "$url/"
curl_check "POST chunked echo (100 KB)" 200 "$work/body-100k" \
    -H 'Transfer-Encoding: chunked' --data-binary @"$work/body-100k" "$url/"
curl_check "POST empty body" 200 "$work/empty" -X POST "$url/"
curl_check "HTTP/1.0 GET" 200 "$work/hello" -0 "$url/"
curl_check "DELETE gets 405" 405 - -X DELETE "$url/"

# Content-Type of each kind of answer.
content_type() { curl -s -o /dev/null -D - --max-time 10 "$@" | tr -d '\r' | awk -F': ' 'tolower($1) == "content-type" { print $2 }'; }
type_get=$(content_type "$url/")
type_post=$(content_type --data-binary x "$url/")
ok=0
[ "$type_get" = text/plain ] && [ "$type_post" = application/octet-stream ] || ok=1
record curl "Content-Type GET / POST" "$ok" "'$type_get' / '$type_post'"

# HEAD: the GET headers and no body. A GET follows on the same connection, so a body sent after
# the HEAD answer would be read as the next response and fail it.
ok=0
curl -sv --max-time 10 -I "$url/" --next -sv --max-time 10 "$url/" >"$work/out" 2>"$work/curl.err" || ok=1
connects=$(grep -c '^\* Connected to' "$work/curl.err" || true)
length=$(tr -d '\r' <"$work/out" | awk -F': ' 'tolower($1) == "content-length" { print $2; exit }')
[ "$length" = 13 ] && [ "$(tail -c 13 "$work/out")" = "Hello, world!" ] && [ "$connects" -eq 1 ] || ok=1
record curl "HEAD: headers only, then GET" "$ok" "Content-Length '$length', $connects connection(s)"

# Two URLs on one command line: the second must reuse the first connection.
ok=0
curl -sv --max-time 10 "$url/" "$url/" >"$work/out" 2>"$work/curl.err" || ok=1
reused=$(grep -ci 're-using existing' "$work/curl.err" || true)
connects=$(grep -c '^\* Connected to' "$work/curl.err" || true)
[ "$(cat "$work/out")" = "Hello, world!Hello, world!" ] || ok=1
[ "$reused" -ge 1 ] && [ "$connects" -eq 1 ] || ok=1
record curl "keep-alive: 2 URLs, 1 connection" "$ok" "$connects connection(s), reused $reused time(s)"

# Connection: close is honoured: the server closes after the answer.
ok=0
curl -sv --max-time 10 -H 'Connection: close' "$url/" "$url/" >"$work/out" 2>"$work/curl.err" || ok=1
connects=$(grep -c '^\* Connected to' "$work/curl.err" || true)
[ "$(cat "$work/out")" = "Hello, world!Hello, world!" ] && [ "$connects" -eq 2 ] || ok=1
record curl "Connection: close honoured" "$ok" "$connects connections for 2 requests"

# --- load clients ------------------------------------------------------------------------------
# Each load run has a time limit, so a server that stops answering fails a check instead of
# hanging the script; once it no longer answers a plain GET, the remaining runs are not started.
readonly client_limit_seconds=90
server_answering=1
client_status=0
# run_client CLIENT CHECK OUTPUT COMMAND...: runs COMMAND into OUTPUT, its exit status in
# client_status; returns 1 (after recording the failure) if it did not run or timed out.
run_client() {
    local client=$1 check=$2 output=$3
    shift 3
    if [ "$server_answering" -eq 0 ]; then
        record "$client" "$check" 1 "not run: the server stopped answering"
        return 1
    fi
    client_status=0
    timeout -k 5 "$client_limit_seconds" "$@" >"$output" 2>&1 || client_status=$?
    if [ "$client_status" -eq 124 ] || [ "$client_status" -eq 137 ]; then
        local probe="still answers GET /"
        if ! curl -s -o /dev/null --max-time 3 "$url/"; then
            server_answering=0
            probe="no longer answers GET / (later load runs skipped)"
        fi
        record "$client" "$check" 1 "timed out after ${client_limit_seconds}s; the server $probe"
        return 1
    fi
}

# --- ab ----------------------------------------------------------------------------------------
# ab speaks HTTP/1.0; -k asks for keep-alive, which the server must grant on every answer.
ab_field() { awk -F': *' -v key="$1" '$1 == key { split($2, v, " "); print v[1]; exit }' "$work/ab.txt"; }
for concurrency in 1 64 1000; do
    requests=$((concurrency < 100 ? 20000 : 100000))
    check="-k -c $concurrency -n $requests"
    run_client ab "$check" "$work/ab.txt" ab -q -k -r -s 10 -c "$concurrency" -n "$requests" "$url/" || continue
    ok=0
    [ "$client_status" -eq 0 ] || ok=1
    complete=$(ab_field "Complete requests")
    failed=$(ab_field "Failed requests")
    non2xx=$(ab_field "Non-2xx responses")
    write_errors=$(ab_field "Write errors")
    keepalive=$(ab_field "Keep-Alive requests")
    rate=$(ab_field "Requests per second")
    [ "${complete:-0}" -eq "$requests" ] && [ "${failed:-1}" -eq 0 ] && [ "${non2xx:-0}" -eq 0 ] &&
        [ "${write_errors:-0}" -eq 0 ] && [ "${keepalive:-0}" -eq "$requests" ] || ok=1
    detail="${complete:-?}/$requests complete, failed ${failed:-?}, non-2xx ${non2xx:-0}, write errors ${write_errors:-0}, keep-alive ${keepalive:-?}, ${rate:-?} req/s"
    [ "$ok" -eq 0 ] || detail+="; ab said: $(grep -iE 'error|failed|apr_' "$work/ab.txt" | head -3 | tr '\n' ' ')"
    record ab "$check" "$ok" "$detail"
done

# --- h2load ------------------------------------------------------------------------------------
# Its report: "requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout"
# and "status codes: N 2xx, N 3xx, N 4xx, N 5xx".
h2load_count() { grep "^$1" "$work/h2load.txt" | grep -oE "[0-9]+ $2" | cut -d' ' -f1; }
for clients in 1 64 1000; do
    requests=$((clients < 100 ? 20000 : 100000))
    check="--h1 -c $clients -n $requests"
    run_client h2load "$check" "$work/h2load.txt" h2load --h1 -c "$clients" -n "$requests" "$url/" || continue
    ok=0
    [ "$client_status" -eq 0 ] || ok=1
    total=$(h2load_count requests: total)
    succeeded=$(h2load_count requests: succeeded)
    failed=$(h2load_count requests: failed)
    errored=$(h2load_count requests: errored)
    timeouts=$(h2load_count requests: timeout)
    ok2xx=$(h2load_count 'status codes:' 2xx)
    rate=$(awk '/^finished in/ { print $4 }' "$work/h2load.txt")
    [ "${total:-0}" -eq "$requests" ] && [ "${succeeded:-0}" -eq "$requests" ] && [ "${failed:-1}" -eq 0 ] &&
        [ "${errored:-1}" -eq 0 ] && [ "${timeouts:-1}" -eq 0 ] && [ "${ok2xx:-0}" -eq "$requests" ] || ok=1
    record h2load "$check" "$ok" \
        "${succeeded:-?}/$requests succeeded, failed ${failed:-?}, errored ${errored:-?}, timeout ${timeouts:-?}, 2xx ${ok2xx:-?}, ${rate:-?} req/s"
done

# --- wrk ---------------------------------------------------------------------------------------
wrk_check() { # CONNECTIONS DEPTH
    local connections=$1 depth=$2 ok=0 name line
    name="-c $connections -d ${wrk_seconds}s"
    [ "$depth" -eq 1 ] || name+=" pipelined x$depth"
    run_client wrk "$name" "$work/wrk.txt" \
        wrk -t1 -c"$connections" -d"${wrk_seconds}s" --timeout 5s -s scripts/wrk-pipeline.lua "$url/" -- "$depth" ||
        return 0
    [ "$client_status" -eq 0 ] || ok=1
    if ! line=$(grep '^wrk-json: ' "$work/wrk.txt"); then
        record wrk "$name" 1 "no result: $(tail -3 "$work/wrk.txt" | tr '\n' ' ')"
        return
    fi
    local summary
    summary=$(python3 -c '
import json, sys
w = json.loads(sys.argv[1])
e = w["errors"]
socket_errors = e["connect"] + e["read"] + e["write"] + e["timeout"]
failed = socket_errors or e["status"] or not w["requests"]
print(int(bool(failed)), "%d requests, %.0f req/s, socket errors %d (connect %d, read %d, write %d, timeout %d), non-2xx %d" % (
    w["requests"], w["requests"] / (w["duration_us"] / 1e6), socket_errors,
    e["connect"], e["read"], e["write"], e["timeout"], e["status"]))
' "${line#wrk-json: }")
    [ "${summary%% *}" -eq 0 ] || ok=1
    record wrk "$name" "$ok" "${summary#* }"
}
wrk_check 64 1
wrk_check 1000 1
wrk_check 64 16

# --- after the load ----------------------------------------------------------------------------
body=$(curl -s --max-time 5 "$url/" || true)
ok=0
[ "$body" = "Hello, world!" ] || ok=1
record curl "GET / after the load" "$ok" "body '$body'"
if [ -n "$start_command" ]; then
    stop_server
    record server "exit on SIGTERM" "$([ "$server_status" -eq 0 ] && echo 0 || echo 1)" "status $server_status"
fi

# --- summary -----------------------------------------------------------------------------------
echo
printf '| %-7s | %-34s | %-6s | %s\n' client check result detail
printf '|%s|%s|%s|%s\n' --------- ------------------------------------ -------- --------
for row in "${results[@]}"; do
    IFS=$'\t' read -r client check verdict detail <<<"$row"
    printf '| %-7s | %-34s | %-6s | %s\n' "$client" "$check" "$verdict" "$detail"
done
echo
if [ "$failures" -ne 0 ]; then
    echo "client_check: $failures check(s) FAILED against $url/" >&2
    exit 1
fi
echo "client_check: all ${#results[@]} checks passed against $url/"

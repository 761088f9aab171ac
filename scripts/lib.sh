# shellcheck shell=bash
# Shell helpers sourced by the benchmark and client-check scripts. The caller defines die().
#
# install_missing COMMAND:PACKAGE ... installs the packages whose command is missing, with
# apt-get update + install (through sudo when not root), as scripts/install-deps.sh does.
install_missing() { # COMMAND:PACKAGE ...
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 ||
        die "missing ${missing[*]} and apt-get is not available; install them with your package manager"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "installing ${missing[*]} needs root; run as root or install sudo"
        sudo="sudo"
    fi
    echo "installing ${missing[*]} ..."
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# stop_pid PID: SIGTERM, up to 5 s to exit, then SIGKILL. Returns the process's exit status
# (PID must be a child of this shell).
stop_pid() {
    local pid=$1 status=0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || status=$?
    return "$status"
}

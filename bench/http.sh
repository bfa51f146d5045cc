# bench/http.sh — what the HTTP benchmarks (track.sh, preferences.sh) share: starting one
# `facteur serve` on the private cluster, running wrk with a Lua script, and reading its figures.
# Sourced before the options are read (it only defines functions); uses the caller's variables: work, url, home, secret, facteur,
# cluster, threads, connections, lua (the wrk script), server_pid (set here).
# shellcheck shell=bash

# http_bench_args SIZE_NAME "$@": reads the options every HTTP benchmark takes (--seconds,
# --SIZE_NAME, --connections, --threads, --no-build, --keep) into the variables of those names,
# whose defaults the caller sets, and keeps them in `arguments`; the caller defines usage().
http_bench_args() {
    local size_name=$1 key name
    shift
    arguments=("$@")
    while (($# > 0)); do
        case "$1" in
        --seconds | "--$size_name" | --connections | --threads)
            (($# >= 2)) || { usage >&2; exit 2; }
            printf -v "${1#--}" '%s' "$2"
            shift 2
            ;;
        --seconds=* | "--$size_name="* | --connections=* | --threads=*)
            key=${1%%=*}
            printf -v "${key#--}" '%s' "${1#*=}"
            shift
            ;;
        --build) build=true; shift ;;
        --no-build) build=false; shift ;;
        --keep) keep=true; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
        esac
    done
    for name in seconds "$size_name" connections threads; do
        [[ "${!name}" =~ ^[1-9][0-9]*$ ]] || { echo "--$name must be a positive whole number" >&2; exit 2; }
    done
    ((connections >= threads)) || { echo "--connections must be at least --threads" >&2; exit 2; }
}

# http_bench_start NAME SIZE_NAME SIZE: checks the tools, prints the command line (the caller's
# `arguments`, seconds, connections, threads and --SIZE_NAME), builds facteur, makes $work and
# starts the private cluster; on exit the server is stopped and $work removed (unless --keep).
http_bench_start() {
    local name=$1 size_name=$2 size=$3
    command -v wrk >/dev/null 2>&1 || die "wrk is needed (Debian: apt-get install wrk)"
    command -v curl >/dev/null 2>&1 || die "curl is needed"
    command -v python3 >/dev/null 2>&1 || die "python3 is needed to sign the tokens"
    printf 'command: bash bench/%s.sh' "$name"
    if ((${#arguments[@]} > 0)); then printf ' %q' "${arguments[@]}"; fi
    printf '\n'
    printf '         (--seconds %s --%s %s --connections %s --threads %s)\n' "$seconds" "$size_name" "$size" "$connections" "$threads"
    build_facteur >&2
    work="$(mktemp -d "${TMPDIR:-/tmp}/facteur-bench-$name.XXXXXX")"
    server_pid=""
    start_cluster
}

# Run first by start_cluster's exit trap.
bench_cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null
        for _ in {1..50}; do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    if $keep; then printf 'work files (paths, logs) left in %s\n' "$work" >&2; else rm -rf "$work"; fi
}

# start_serve: one `facteur serve` (LOG_LEVEL=warning) on a free port; sets port, base, server_pid.
start_serve() {
    local i
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    base="http://127.0.0.1:$port"
    mkdir -p "$work/outbox" # serve needs a mail transport (for test sends); this run sends nothing
    DATABASE_URL="$url" FACTEUR_HOME="$home" FACTEUR_SECRET="$secret" FACTEUR_HOST=127.0.0.1 FACTEUR_PORT="$port" \
        FACTEUR_BASE_URL="$base" FACTEUR_OUTBOX="$work/outbox" LOG_LEVEL="${LOG_LEVEL:-warning}" "$facteur" serve >"$work/serve.log" 2>&1 &
    server_pid=$!
    for ((i = 0; ; i++)); do
        kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log" >&2; server_pid=""; die "facteur serve exited"; }
        [[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/livez" || true)" == 200 ]] && break
        ((i < 300)) || die "facteur serve did not answer /livez within 30 s"
        sleep 0.1
    done
    log "facteur serve (pid $server_pid) on $base"
}

# wrk_args DURATION ARGS…: sets cmd to the wrk command line (ARGS go to the Lua script).
wrk_args() {
    local duration=$1
    shift
    cmd=(wrk -t "$threads" -c "$connections" -d "${duration}s" --timeout 10s -s "$lua" "$base" -- "$@")
}
quoted() { printf '%q ' "$@" | sed 's/ $//'; }
# CPU time (clock ticks, user + system) of the processes given; with --children, the first one's
# also counts its children that have exited (the postmaster reaps backends and autovacuum workers).
cpu_ticks() {
    local total=0 pid line fields children=false
    if [[ "$1" == --children ]]; then children=true; shift; fi
    for pid in "$@"; do
        line=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        # After the ")" that ends the command name: field 3 (state) first, so utime (14) is at 11.
        read -r -a fields <<<"${line##*) }"
        total=$((total + fields[11] + fields[12]))
        if $children; then total=$((total + fields[13] + fields[14])); children=false; fi
    done
    echo "$total"
}
# The cluster: the postmaster, its live children and those that have exited.
pg_ticks() {
    local postmaster pids
    postmaster=$(head -n 1 "$cluster/data/postmaster.pid")
    mapfile -t pids < <(pgrep -P "$postmaster")
    cpu_ticks --children "$postmaster" "${pids[@]}"
}
# run NAME DURATION ARGS…: wrk's report to stderr, its RESULT line to $work/NAME.result.
run() {
    local name=$1 duration=$2
    shift 2
    wrk_args "$duration" "$@"
    log "$name, load average $(cut -d' ' -f1-3 /proc/loadavg): $(quoted "${cmd[@]}")"
    local before_server before_pg
    before_server=$(cpu_ticks "$server_pid")
    before_pg=$(pg_ticks)
    { time "${cmd[@]}" >"$work/$name.out" 2>&1; } 2>"$work/$name.time" || { cat "$work/$name.out" >&2; die "wrk failed ($name)"; }
    echo "$(($(cpu_ticks "$server_pid") - before_server)) $(($(pg_ticks) - before_pg))" >"$work/$name.cpu"
    grep -v '^RESULT ' "$work/$name.out" | sed 's/^/    /' >&2
    grep '^RESULT ' "$work/$name.out" >"$work/$name.result" || die "wrk printed no RESULT line ($name)"
    kill -0 "$server_pid" 2>/dev/null || { tail -n 30 "$work/serve.log" >&2; server_pid=""; die "facteur serve died during $name"; }
}
# field NAME KEY: a value of NAME's RESULT line.
field() { tr ' ' '\n' <"$work/$1.result" | awk -F= -v k="$2" '$1 == k { print $2 }'; }
metric() { awk -v m="$1" '$1 == m { printf "%d", $2; found = 1 } END { if (!found) printf "0" }' "$2"; }

# cpu_line NAME…: "facteur X s, PostgreSQL Y s, wrk Z s" summed over the runs named.
cpu_line() {
    local hz
    hz=$(getconf CLK_TCK)
    local server=0 pg=0 wrk_cpu=0 name a b
    for name in "$@"; do
        read -r a b <"$work/$name.cpu"
        server=$((server + a))
        pg=$((pg + b))
        wrk_cpu=$(awk -v t="$wrk_cpu" -v u="$(tail -n 1 "$work/$name.time")" 'BEGIN { split(u, p, " "); print t + p[1] + p[2] }')
    done
    awk -v s="$server" -v p="$pg" -v w="$wrk_cpu" -v hz="$hz" \
        'BEGIN { printf "facteur %.1f s, PostgreSQL %.1f s, wrk %.1f s", s / hz, p / hz, w }'
}

# bench/lib.sh — what the benchmarks share: a private PostgreSQL cluster (unix socket only,
# removed on exit unless $keep), the release binary, and small helpers. Source it after setting
# `repo`, `facteur`, `build` and `keep`; then call `start_cluster`.

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- PostgreSQL tools: beside initdb on PATH, else the newest under /usr/lib/postgresql ----------
pg_bin=""
if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    pg_bin="$(dirname "$(command -v initdb)")"
else
    best_version=-1
    for dir in /usr/lib/postgresql/*/bin; do
        version="${dir#/usr/lib/postgresql/}"
        version="${version%/bin}"
        if [[ -x "$dir/initdb" && "$version" =~ ^[0-9]+$ ]] && ((version > best_version)); then
            pg_bin="$dir"
            best_version=$version
        fi
    done
fi
[[ -n "$pg_bin" ]] || die "PostgreSQL's initdb was not found (Debian: apt-get install postgresql)"
psql_bin="$(command -v psql || true)"
[[ -n "$psql_bin" ]] || psql_bin="$pg_bin/psql"
createdb_bin="$(command -v createdb || true)"
[[ -n "$createdb_bin" ]] || createdb_bin="$pg_bin/createdb"

# PostgreSQL refuses to run as root: the server side then runs as the postgres user.
as_root=false
if [[ "$(id -u)" -eq 0 ]]; then
    as_root=true
    id postgres >/dev/null 2>&1 || die "running as root needs a 'postgres' user to run the server"
fi
as_pg() {
    if $as_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

# --- Build ---------------------------------------------------------------------------------------

build_facteur() {
    if $build || [[ ! -x "$facteur" ]]; then
        log "building facteur (release; the first build takes several minutes)"
        (cd "$repo" && swift build -c release --scratch-path .build-release --product facteur)
    fi
    [[ -x "$facteur" ]] || die "$facteur was not built"
}

# Under the repo's .facteur/ when the server's user can get there, else under /var/tmp. A script
# may define bench_cleanup, run first on exit (to stop processes it started).
# With a NAME, the cluster is kept: `start_cluster NAME` reuses .facteur/NAME when it exists (no
# initdb; `cluster_reused` is then true) and stops it at exit without removing it, for benchmarks
# whose data takes long to build.
start_cluster() {
    cluster_name="${1:-}"
    cluster=""
    cluster_reused=false
    if mkdir -p "$repo/.facteur" 2>/dev/null && { ! $as_root || runuser -u postgres -- test -x "$repo/.facteur"; }; then
        cluster="$repo/.facteur/${cluster_name:-bench-pg-$$}"
    else
        cluster="/var/tmp/facteur-${cluster_name:-bench-$$}"
    fi
    socket_dir="$cluster"
    started=false

    cleanup() {
        local status=$?
        if declare -F bench_cleanup >/dev/null; then bench_cleanup || true; fi
        if $keep && $started; then
            printf '\ncluster left running: psql -h %s -U postgres -d bench_facteur\n' "$socket_dir" >&2
            printf 'stop it with: %spg_ctl -D %s -m fast stop && rm -rf %s\n' \
                "$($as_root && echo 'runuser -u postgres -- ')" "$cluster/data" "$cluster" >&2
            exit "$status"
        fi
        if [[ -n "$cluster_name" ]]; then
            if $started; then as_pg "$pg_bin/pg_ctl" -D "$cluster/data" -m fast -w stop >/dev/null 2>&1 || true; fi
            if [[ "$socket_dir" != "$cluster" ]]; then rm -rf "$socket_dir"; fi
            exit "$status"
        fi
        if $started; then as_pg "$pg_bin/pg_ctl" -D "$cluster/data" -m immediate -w stop >/dev/null 2>&1 || true; fi
        rm -rf "$cluster"
        if [[ "$socket_dir" != "$cluster" ]]; then rm -rf "$socket_dir"; fi
        exit "$status"
    }
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    mkdir -p "$cluster"
    # A unix socket path (directory + "/.s.PGSQL.5432") must fit in 107 bytes.
    if ((${#cluster} > 80)); then socket_dir="$(mktemp -d /tmp/facteur-bench-sock.XXXXXX)"; fi
    if $as_root; then chown postgres:postgres "$cluster" "$socket_dir"; fi

    if [[ -n "$cluster_name" && -f "$cluster/data/PG_VERSION" ]]; then
        cluster_reused=true
        log "starting PostgreSQL ($pg_bin) in $cluster (kept from an earlier run)"
    else
        log "starting PostgreSQL ($pg_bin) in $cluster"
        as_pg "$pg_bin/initdb" -D "$cluster/data" -U postgres -A trust -E UTF8 --no-locale --no-sync >"$cluster/initdb.log" 2>&1 ||
            { cat "$cluster/initdb.log" >&2; die "initdb failed"; }
    fi
    # Statements of 250 ms or more are logged: results can name the slow phases.
    pg_options="-c listen_addresses='' -c unix_socket_directories='$socket_dir' -c log_min_duration_statement=250"
    pg_options+=" ${FACTEUR_BENCH_PG_OPTIONS:-}"
    as_pg "$pg_bin/pg_ctl" -D "$cluster/data" -l "$cluster/postgres.log" -w -t 60 -o "$pg_options" start >/dev/null ||
        { cat "$cluster/postgres.log" >&2; die "pg_ctl start failed"; }
    started=true

    export PGHOST="$socket_dir" PGUSER=postgres PGCLIENTENCODING=UTF8
    unset PGPORT PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS
    sql() { "$psql_bin" -X -q -v ON_ERROR_STOP=1 -At -d "$1" -c "$2"; }
}

# --- Helpers ---
now() { echo "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# 1234567 -> 1,234,567
commas() { echo "$1" | sed -e ':a' -e 's/\B[0-9]\{3\}\>/,&/' -e 'ta'; }

fresh_db() {
    "$psql_bin" -X -q -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1"
    "$createdb_bin" "$1"
}

#!/usr/bin/env bash
# bench/import.sh — times `facteur import` against `psql \copy` of the same CSV.
#
# Usage: bash bench/import.sh [--rows N] [--runs N] [--build] [--keep]
#
#   --rows N   rows in the generated CSV (default 1000000); the file is cached in bench/out/
#   --runs N   take the best of N runs per side, each into a fresh database (default 1)
#   --build    rebuild the release binary first (it is built anyway when missing)
#   --keep     leave the private cluster running at the end and print how to reach it
#
# Both sides load the same file into a private PostgreSQL cluster (unix socket only, default
# durability settings) started here and removed on exit:
#   * psql: \copy into a plain table with a unique index on lower(email);
#   * facteur: `facteur import --quiet` into a freshly migrated database with the 5 custom
#     fields registered.
# Extra server settings for investigations: FACTEUR_BENCH_PG_OPTIONS, e.g.
#   FACTEUR_BENCH_PG_OPTIONS="-c log_min_duration_statement=0" bash bench/import.sh --keep
# FACTEUR_BENCH_BINARY=path uses another facteur binary (e.g. a debug build) instead.
# Exits non-zero if either database does not end with exactly N rows.
set -euo pipefail

rows=1000000
runs=1
build=false
keep=false

usage() { sed -n '2,20s/^# \{0,1\}//p' "$0"; }

while (($# > 0)); do
    case "$1" in
    --rows) rows="${2:-}"; shift 2 || { usage >&2; exit 2; } ;;
    --rows=*) rows="${1#*=}"; shift ;;
    --runs) runs="${2:-}"; shift 2 || { usage >&2; exit 2; } ;;
    --runs=*) runs="${1#*=}"; shift ;;
    --build) build=true; shift ;;
    --keep) keep=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
[[ "$rows" =~ ^[1-9][0-9]*$ ]] || { echo "--rows must be a positive whole number" >&2; exit 2; }
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "--runs must be a positive whole number" >&2; exit 2; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
facteur="${FACTEUR_BENCH_BINARY:-$repo/.build-release/release/facteur}"
out_dir="$repo/bench/out"

source "$repo/bench/lib.sh"
build_facteur

mkdir -p "$out_dir"
gen_hash="$(sha1sum "$repo/bench/gen_subscribers.py" | cut -c1-8)"
csv="$out_dir/subscribers-$rows-$gen_hash.csv"
if [[ -s "$csv" ]]; then
    log "reusing $csv"
else
    log "generating $rows rows into $csv"
    # Files from an older generator for the same row count are stale.
    rm -f "$out_dir/subscribers-$rows-"*.csv
    python3 "$repo/bench/gen_subscribers.py" "$rows" "$csv.tmp.$$"
    mv "$csv.tmp.$$" "$csv"
fi
csv_size=$(stat -c %s "$csv")

start_cluster

# --- Helpers -------------------------------------------------------------------------------------
rate() { commas "$(awk -v n="$rows" -v s="$1" 'BEGIN { printf "%d", (s > 0 ? n / s : 0) }')"; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a + 0 < b + 0) ? a : b }'; }


# --- Runs ------------------------------------------------------------------------------------------
# Server statements of 250 ms or more logged from line $1 of postgres.log on, one per line:
# "<seconds> s  <start of the statement>".
slow_statements() {
    tail -n +"$1" "$cluster/postgres.log" | awk '
        match($0, /duration: [0-9.]+ ms  (statement|execute [^:]*): /) {
            head = substr($0, RSTART, RLENGTH)
            text = substr($0, RSTART + RLENGTH)
            split(head, parts, " ")
            gsub(/[ \t]+/, " ", text)
            printf "%7.2f s  %s\n", parts[2] / 1000, substr(text, 1, 72)
        }'
}

best_psql=""
best_facteur=""
facteur_line=""
facteur_cpu=""
facteur_server=""
failed=false
TIMEFORMAT='%U %S'
for ((run = 1; run <= runs; run++)); do
    # psql \copy into the plain table.
    fresh_db bench_psql
    sql bench_psql "CREATE TABLE contacts (email text NOT NULL, name text, age numeric, vip boolean,
                        signup_date date, plan text, country text);
                    CREATE UNIQUE INDEX ON contacts (lower(email));"
    cat "$csv" >/dev/null
    sql postgres "CHECKPOINT"
    t0=$(now)
    "$psql_bin" -X -q -v ON_ERROR_STOP=1 -d bench_psql \
        -c "\\copy contacts FROM '$csv' WITH (FORMAT csv, HEADER true)"
    t1=$(now)
    psql_seconds=$(elapsed "$t0" "$t1")
    psql_rows=$(sql bench_psql "SELECT count(*) FROM contacts")
    sql postgres "DROP DATABASE bench_psql"

    # facteur import into a migrated database.
    fresh_db bench_facteur
    url="host=$socket_dir user=postgres dbname=bench_facteur"
    DATABASE_URL="$url" FACTEUR_HOME="$repo" "$facteur" migrate >"$cluster/migrate.log" 2>&1 ||
        { cat "$cluster/migrate.log" >&2; die "facteur migrate failed"; }
    sql bench_facteur "INSERT INTO fields (key, type, label) VALUES ('age', 'number', 'Age'), ('vip', 'boolean', 'VIP'),
        ('signup_date', 'date', 'Signup date'), ('plan', 'text', 'Plan'), ('country', 'text', 'Country')"
    cat "$csv" >/dev/null
    sql postgres "CHECKPOINT"
    log_start=$(($(wc -l <"$cluster/postgres.log") + 1))
    t0=$(now)
    { time DATABASE_URL="$url" FACTEUR_HOME="$repo" "$facteur" import --quiet "$csv" \
        >"$cluster/import.out" 2>"$cluster/import.err"; } 2>"$cluster/import.time" ||
        { cat "$cluster/import.out" "$cluster/import.err" >&2; die "facteur import failed"; }
    t1=$(now)
    facteur_seconds=$(elapsed "$t0" "$t1")
    facteur_rows=$(sql bench_facteur "SELECT count(*) FROM subscribers")
    if ((run < runs)); then sql postgres "DROP DATABASE bench_facteur"; fi

    log "run $run/$runs: psql \\copy $psql_seconds s, facteur import $facteur_seconds s"
    if [[ "$psql_rows" != "$rows" ]]; then
        echo "psql \\copy loaded $psql_rows rows, expected $rows" >&2
        failed=true
    fi
    if [[ "$facteur_rows" != "$rows" ]]; then
        echo "facteur import left $facteur_rows subscribers, expected $rows" >&2
        failed=true
    fi
    best_psql=$(min "$psql_seconds" "$best_psql")
    if [[ -z "$best_facteur" ]] || awk -v a="$facteur_seconds" -v b="$best_facteur" 'BEGIN { exit !(a + 0 < b + 0) }'; then
        best_facteur=$facteur_seconds
        facteur_line=$(head -n 1 "$cluster/import.out")
        facteur_cpu=$(awk '{ printf "%.2f s user + %.2f s system", $1, $2 }' "$cluster/import.time")
        facteur_server=$(slow_statements "$log_start")
    fi
done

ratio=$(awk -v f="$best_facteur" -v p="$best_psql" 'BEGIN { printf "%.2f", f / p }')
verdict=$(awk -v r="$ratio" 'BEGIN { print (r <= 1.5) ? "met" : "NOT met" }')
best=""
if ((runs > 1)); then best=" best of $runs"; fi

cat <<EOF

rows: $(commas "$rows") ($(awk -v b="$csv_size" 'BEGIN { printf "%.1f", b / 1048576 }') MiB CSV, $(basename "$csv"))
psql \\copy:         $(printf '%6.2f' "$best_psql") s ($(rate "$best_psql") rows/s)$best
facteur import:     $(printf '%6.2f' "$best_facteur") s ($(rate "$best_facteur") rows/s)$best
ratio facteur/psql: $ratio (goal ≤ 1.5: $verdict)
facteur says:       $facteur_line
facteur subscribers: $(commas "$facteur_rows") (expected $(commas "$rows"))
facteur process CPU: $facteur_cpu
server statements of 0.25 s or more during that import:
$(printf '%s\n' "${facteur_server:-(none)}" | sed 's/^/  /')
EOF

if $failed; then exit 1; fi

#!/usr/bin/env bash
# bench/segments.sh — the segment compiler against hand-written, hand-tuned SQL for the same
# questions, on a list of a million people with twenty million events.
#
# Usage: bash bench/segments.sh [--subscribers N] [--runs N] [--fresh] [--no-build] [--keep]
#
#   --subscribers N   people in the list (default 1000000); events are about 20 per person
#   --runs N          timed runs of each query, after one warm-up run (default 5)
#   --fresh           build the data again even when a kept cluster has it
#   --no-build        use the release binary as it is (built only when missing)
#   --keep            leave the cluster running at the end
#
# The data (bench/segments_data.sql: typed attributes, companies, topics, 40 campaigns, opens
# with devices and machine opens, clicks, bounces, page views, logins, purchases, over a year in
# monthly partitions) takes a while to build, so the cluster is kept under
# .facteur/bench-segments/ and reused by the next run with the same --subscribers (delete that
# folder to get the disk space back). Each run applies any new migration to it first.
#
# Then, for each of the segments in bench/segments.txt (each mixes five or more conditions),
# bench/segments_run.py times `facteur segment count --text RULE` (the query as the service
# runs it, timed inside the process) and the hand-written SQL (timed by psql), interleaved, at
# the same instant `now`. It checks that both count the same people, prints each median, their
# ratio (compiled / hand; below 1 the compiler wins), the geometric mean of the ratios and the
# compiled median over all segments, and whether PostgreSQL's plan for a compiled segment reads
# any partition of `events` with a sequential scan. Exits non-zero when a count differs or a
# query fails, not when a goal is missed.
set -euo pipefail

subscribers=1000000
runs=5
fresh=false
build=true
keep=false

usage() { sed -n '2,27s/^# \{0,1\}//p' "$0"; }
while (($#)); do
    case "$1" in
        --subscribers) subscribers="${2:?}"; shift 2 ;;
        --runs) runs="${2:?}"; shift 2 ;;
        --fresh) fresh=true; shift ;;
        --no-build) build=false; shift ;;
        --keep) keep=true; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
[[ "$subscribers" =~ ^[0-9]+$ ]] && ((subscribers >= 1000)) || { echo "--subscribers must be at least 1000" >&2; exit 2; }
[[ "$runs" =~ ^[0-9]+$ ]] && ((runs >= 1)) || { echo "--runs must be at least 1" >&2; exit 2; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
facteur="${FACTEUR_BENCH_BINARY:-$repo/.build-release/release/facteur}"
home="${FACTEUR_BENCH_HOME:-$repo}"
# The cluster has room for the data in memory, like a production server would; JIT stays off
# for both sides (it never paid for itself on these queries and cost up to a quarter second).
export FACTEUR_BENCH_PG_OPTIONS="-c shared_buffers=4GB -c effective_cache_size=12GB -c work_mem=64MB -c jit=off -c max_wal_size=8GB -c checkpoint_timeout=30min ${FACTEUR_BENCH_PG_OPTIONS:-}"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$repo/bench/lib.sh"

build_facteur
start_cluster bench-segments

db="bench_segments_$subscribers"
url="host=$socket_dir user=postgres dbname=$db"
ready="$(sql postgres "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '$db'" || true)"
if $fresh || [[ "$ready" != "ready" ]]; then
    fresh_db "$db"
    DATABASE_URL="$url" FACTEUR_HOME="$home" "$facteur" migrate >"$cluster/migrate.log" 2>&1 ||
        { cat "$cluster/migrate.log" >&2; die "facteur migrate failed"; }
    log "generating $(commas "$subscribers") subscribers and about $(commas $((subscribers * 20))) events (once; kept for later runs)"
    started_at="$(now)"
    "$psql_bin" -X -q -v ON_ERROR_STOP=1 -d "$db" -v n="$subscribers" -f "$repo/bench/segments_data.sql" >"$cluster/data.log"
    log "generated in $(elapsed "$started_at" "$(now)") s; vacuum and analyze"
    # The statistics segments rely on for custom fields (the data script registered them by SQL).
    DATABASE_URL="$url" FACTEUR_HOME="$home" "$facteur" migrate >>"$cluster/migrate.log" 2>&1 ||
        { cat "$cluster/migrate.log" >&2; die "facteur migrate failed"; }
    sql "$db" "VACUUM (ANALYZE)"
    sql postgres "COMMENT ON DATABASE $db IS 'ready'"
else
    DATABASE_URL="$url" FACTEUR_HOME="$home" "$facteur" migrate >"$cluster/migrate.log" 2>&1 ||
        { cat "$cluster/migrate.log" >&2; die "facteur migrate failed"; }
    sql "$db" "VACUUM (ANALYZE)"
fi
log "data: $(sql "$db" "SELECT format('%s subscribers, %s companies, %s events (%s MB with indexes)', (SELECT count(*) FROM subscribers), (SELECT count(*) FROM companies), (SELECT count(*) FROM events), (SELECT round(sum(pg_total_relation_size(c.oid)) / 1e6) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass))")"

DATABASE_URL="$url" FACTEUR_HOME="$home" python3 "$repo/bench/segments_run.py" \
    --facteur "$facteur" --psql "$psql_bin" --db "$db" --runs "$runs" "$repo/bench/segments.txt"

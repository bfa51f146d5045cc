#!/usr/bin/env bash
# bench/track.sh — open and click tracking under load, against a trivial route of the same server.
#
# Usage: bash bench/track.sh [--seconds N] [--messages N] [--connections N] [--threads N]
#                            [--no-build] [--keep]
#
#   --seconds N       length of the tracking run (default 30); the baseline gets as long
#   --messages N      distinct sent messages whose open and click URLs are hit (default 100000)
#   --connections N   wrk connections (default 64)
#   --threads N       wrk threads (default 2)
#   --no-build        use the release binary as it is (built only when missing)
#   --keep            leave the private cluster running at the end
#
# One `facteur serve` (release build, LOG_LEVEL=warning) on a private PostgreSQL cluster with
# default durability, seeded by SQL: N subscribers, one sent campaign with 2 links, N sent
# messages (sent an hour ago, outside the scanner window). wrk, with bench/track.lua and an
# iPhone Mail user agent, then hits in turn: GET /livez (returns "ok", no database) for half the
# time, /t/o/<token> and /t/c/<token>/<link> (half opens, half clicks, over all N messages; each
# answers once its event is committed) for the whole time, /livez again for the other half. It
# prints both rates, their ratio, their p99 latencies and the events stored against the 2xx/3xx
# tracking responses wrk got (requests still in flight when wrk stops may add up to one event a
# connection). Server settings come from the environment as usual (FACTEUR_EVENT_BATCH,
# FACTEUR_EVENT_WRITERS, FACTEUR_DB_POOL_SIZE, …); FACTEUR_BENCH_BINARY=path uses another binary,
# FACTEUR_BENCH_HOME=dir another FACTEUR_HOME (sql/ and templates/; default: this repository).
# Needs wrk (Debian: apt-get install wrk), curl and python3. Exits non-zero when the run fails or
# an event is missing, not when the rate goal is missed.
set -euo pipefail

seconds=30
messages=100000
connections=64
threads=2
build=true
keep=false

usage() { sed -n '2,27s/^# \{0,1\}//p' "$0"; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=http.sh
source "$repo/bench/http.sh"
http_bench_args messages "$@"

facteur="${FACTEUR_BENCH_BINARY:-$repo/.build-release/release/facteur}"
home="${FACTEUR_BENCH_HOME:-$repo}"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$repo/bench/lib.sh"

http_bench_start track messages "$messages"

# --- Database: N sent messages of one sent campaign with two links ------------------------------
fresh_db bench_track
url="host=$socket_dir user=postgres dbname=bench_track"
DATABASE_URL="$url" FACTEUR_HOME="$home" "$facteur" migrate >"$work/migrate.log" 2>&1 ||
    { cat "$work/migrate.log" >&2; die "facteur migrate failed"; }
log "seeding $(commas "$messages") subscribers and sent messages"
"$psql_bin" -X -q -v ON_ERROR_STOP=1 -At -d bench_track -v n="$messages" >"$work/links.txt" <<'SQL'
INSERT INTO subscribers (email) SELECT 'b' || g || '@bench.test' FROM generate_series(1, :n) AS g;
INSERT INTO templates (name, subject, html)
VALUES ('bench-track', 'Bench', '<p><a href="https://shop.bench.test/a">A</a> <a href="https://shop.bench.test/b">B</a></p>')
RETURNING id AS template_id \gset
INSERT INTO campaigns (name, subject, from_email, template_id, status, started_at, finished_at)
VALUES ('bench-track', 'Bench', 'news@bench.test', :template_id, 'sent', now() - interval '2 hours', now() - interval '1 hour')
RETURNING id AS campaign_id \gset
INSERT INTO messages (campaign_id, subscriber_id, status, attempts, sent_at, message_id)
SELECT :campaign_id, id, 'sent', 1, now() - interval '1 hour', 'bench-' || id || '@bench.test' FROM subscribers;
INSERT INTO campaign_links (campaign_id, url)
VALUES (:campaign_id, 'https://shop.bench.test/a'), (:campaign_id, 'https://shop.bench.test/b')
RETURNING id;
ANALYZE;
SQL
mapfile -t link_ids <"$work/links.txt"
((${#link_ids[@]} == 2)) || die "expected 2 campaign links, got: ${link_ids[*]}"

secret="bench-track-secret-0123456789abcdefghijklmnopqrstuvwxyz"
sql bench_track "SELECT id FROM messages ORDER BY id" |
    FACTEUR_SECRET="$secret" python3 "$repo/bench/track_urls.py" "${link_ids[@]}" >"$work/paths.txt"
(($(wc -l <"$work/paths.txt") == 2 * messages)) || die "track_urls.py wrote $(wc -l <"$work/paths.txt") paths"

# --- Server ------------------------------------------------------------------------------------------
start_serve

tracking_events() { sql bench_track "SELECT count(*) FROM events WHERE type IN ('open', 'click')"; }
# The event count once it stops moving (requests in flight when wrk stops still commit theirs).
settled_events() {
    local last current
    last=$(tracking_events)
    for _ in {1..40}; do
        sleep 0.25
        current=$(tracking_events)
        [[ "$current" == "$last" ]] && break
        last=$current
    done
    echo "$last"
}

# --- Check a few URLs by hand before the load ------------------------------------------------------
agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
mapfile -t sample < <(head -n 2 "$work/paths.txt"; tail -n 2 "$work/paths.txt")
checked=0
for path in "${sample[@]}"; do
    answer=$(curl -s -o /dev/null -A "$agent" -w '%{http_code} %{redirect_url}' "$base$path")
    case "$path" in
    /t/o/*) [[ "$answer" == "200 " ]] || die "GET $path answered '$answer', expected 200" ;;
    *) [[ "$answer" == 302\ https://shop.bench.test/* ]] || die "GET $path answered '$answer', expected a 302 to the link" ;;
    esac
    checked=$((checked + 1))
done
# A token signed with another key gets the pixel too, but must record nothing.
forged=$(FACTEUR_SECRET="not-the-server-secret-0123456789abcdefghij" python3 "$repo/bench/track_urls.py" "${link_ids[0]}" <<<1 | head -n 1)
[[ "$(curl -s -o /dev/null -A "$agent" -w '%{http_code}' "$base$forged")" == 200 ]] || die "the forged open did not get its pixel"
read -r stored people < <(sql bench_track "SELECT count(*), count(*) FILTER (WHERE NOT machine) FROM events" | tr '|' ' ')
[[ "$stored" == "$checked" && "$people" == "$checked" ]] ||
    die "the $checked checked URLs left $stored events ($people by people); expected $checked, all people's (wrong tokens?)"
log "checked $checked URLs with curl (200 pixel, 302 to https://shop.bench.test/a or /b, one person's event each; a forged token: none)"

# --- Load ----------------------------------------------------------------------------------------------
lua="$repo/bench/track.lua"
half=$(((seconds + 1) / 2))

TIMEFORMAT='%U %S'
printf 'wrk commands (order: trivial, tracking, trivial):\n'
wrk_args "$half" path /livez
printf '  %s\n' "$(quoted "${cmd[@]}")"
wrk_args "$seconds" paths "$work/paths.txt" "$threads"
printf '  %s\n' "$(quoted "${cmd[@]}")"
pg_log_start=$(($(wc -l <"$cluster/postgres.log") + 1))
serve_log_start=$(($(wc -l <"$work/serve.log") + 1))

run trivial1 "$half" path /livez
before=$(settled_events)
curl -s "$base/metrics" >"$work/metrics-before.txt"
run tracking "$seconds" paths "$work/paths.txt" "$threads"
after=$(settled_events)
curl -s "$base/metrics" >"$work/metrics-after.txt"
run trivial2 "$half" path /livez
final=$(settled_events)
((final == after)) || log "warning: the /livez runs changed the event count ($after → $final)"

# --- Figures -----------------------------------------------------------------------------------------
trivial_requests=$(($(field trivial1 requests) + $(field trivial2 requests)))
trivial_errors=$(($(field trivial1 errors) + $(field trivial2 errors)))
trivial_rps=$(awk -v n="$trivial_requests" -v a="$(field trivial1 seconds)" -v b="$(field trivial2 seconds)" 'BEGIN { printf "%d", n / (a + b) }')
trivial_p99=$(awk -v a="$(field trivial1 p99_ms)" -v b="$(field trivial2 p99_ms)" 'BEGIN { printf "%.1f", (a > b ? a : b) }')
tracking_requests=$(field tracking requests)
tracking_errors=$(field tracking errors)
tracking_rps=$(awk -v r="$(field tracking rps)" 'BEGIN { printf "%d", r }')
tracking_p99=$(awk -v a="$(field tracking p99_ms)" 'BEGIN { printf "%.1f", a }')
ratio=$(awk -v a="$tracking_rps" -v b="$trivial_rps" 'BEGIN { printf "%.2f", a / b }')
successful=$((tracking_requests - tracking_errors))
events=$((after - before))
persisted=$(awk -v e="$events" -v s="$successful" 'BEGIN { printf "%.1f", (s > 0 ? 100 * (e < s ? e : s) / s : 0) }')
read -r opens clicks machines < <(sql bench_track "SELECT count(*) FILTER (WHERE type = 'open'), count(*) FILTER (WHERE type = 'click'),
    count(*) FILTER (WHERE machine) FROM events" | tr '|' ' ')
socket_errors=0
for key in connect read write timeout; do socket_errors=$((socket_errors + $(field tracking "$key"))); done

written=$(($(metric facteur_events_written_total "$work/metrics-after.txt") - $(metric facteur_events_written_total "$work/metrics-before.txt")))
batches=$(($(metric facteur_event_batches_total "$work/metrics-after.txt") - $(metric facteur_event_batches_total "$work/metrics-before.txt")))
batch_failures=$(metric facteur_event_batch_failures_total "$work/metrics-after.txt")

printf '\ntracking benchmark: %s messages, wrk %s threads × %s connections, one facteur serve (release)\n' \
    "$(commas "$messages")" "$threads" "$connections"
printf 'cpu: %s × %s; wrk, facteur and PostgreSQL share it\n' "$(nproc)" \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
printf 'order: /livez %s s, tracking %s s, /livez %s s (the trivial figures join both /livez runs)\n' "$half" "$seconds" "$half"
printf '  %-24s %9s req/s  p99 %7s ms  (%s requests, %s errors)\n' "trivial  /livez" "$(commas "$trivial_rps")" \
    "$trivial_p99" "$(commas "$trivial_requests")" "$trivial_errors"
printf '  %-24s (before tracking: %s req/s, p99 %s ms; after: %s req/s, p99 %s ms)\n' "" \
    "$(commas "$(field trivial1 rps | cut -d. -f1)")" "$(field trivial1 p99_ms)" \
    "$(commas "$(field trivial2 rps | cut -d. -f1)")" "$(field trivial2 p99_ms)"
printf '  %-24s %9s req/s  p99 %7s ms  (%s requests, %s errors; p50 %s ms, max %s ms)\n' "tracking /t/o + /t/c" \
    "$(commas "$tracking_rps")" "$tracking_p99" "$(commas "$tracking_requests")" "$tracking_errors" \
    "$(field tracking p50_ms)" "$(field tracking max_ms)"
printf '  %-24s %9s        (goal ≥ 0.5: %s)\n' "ratio tracking/trivial" "$ratio" \
    "$(awk -v r="$ratio" 'BEGIN { print (r >= 0.5 ? "PASS" : "MISS") }')"
printf '  %-24s %9s %%      (%s events for %s successful requests; goal 100 %%: %s)\n' "persisted" "$persisted" \
    "$(commas "$events")" "$(commas "$successful")" "$( ((events >= successful)) && echo PASS || echo MISS)"
if ((events > successful)); then
    printf '  %-24s %9s        (requests in flight when wrk stopped; at most %s expected)\n' "events without response" \
        "$((events - successful))" "$((connections + socket_errors))"
fi
printf '  %-24s %s opens, %s clicks, %s machine (all runs, incl. %s checked by hand)\n' "events in the database" \
    "$(commas "$opens")" "$(commas "$clicks")" "$machines" "$checked"
printf '  %-24s tracking: %s (of %s s × %s cores)\n' "CPU time" "$(cpu_line tracking)" "$seconds" "$(nproc)"
printf '  %-24s /livez:   %s (of %s s × %s cores)\n' "" "$(cpu_line trivial1 trivial2)" "$((2 * half))" "$(nproc)"
for name in trivial1 tracking trivial2; do
    [[ "$(field "$name" responses)" == "$(field "$name" requests)" ]] ||
        printf '  note: %s: wrk counted %s requests, the Lua script %s responses\n' "$name" "$(field "$name" requests)" \
            "$(field "$name" responses)"
done
if ((batches > 0)); then
    printf '  %-24s %s batches for %s events: %s events a batch on average (%s failed batches)\n' "server event batches" \
        "$(commas "$batches")" "$(commas "$written")" "$(awk -v w="$written" -v b="$batches" 'BEGIN { printf "%.1f", w / b }')" \
        "$batch_failures"
fi
if ((socket_errors + $(field tracking status) > 0)); then
    printf '  wrk errors during tracking: connect %s, read %s, write %s, timeout %s, status %s\n' "$(field tracking connect)" \
        "$(field tracking read)" "$(field tracking write)" "$(field tracking timeout)" "$(field tracking status)"
fi
slow=$(tail -n +"$pg_log_start" "$cluster/postgres.log" | grep -c 'duration: ' || true)
if ((slow > 0)); then
    printf '  PostgreSQL statements of 250 ms or more during the runs: %s, e.g.\n' "$slow"
    tail -n +"$pg_log_start" "$cluster/postgres.log" | grep 'duration: ' | head -n 3 | cut -c1-160 | sed 's/^/    /'
fi
server_lines=$(tail -n +"$serve_log_start" "$work/serve.log" | wc -l)
if ((server_lines > 0)); then
    printf '  server log lines (warning or worse) during the runs: %s, e.g.\n' "$server_lines"
    tail -n +"$serve_log_start" "$work/serve.log" | head -n 3 | cut -c1-160 | sed 's/^/    /'
fi

((tracking_errors == 0 && trivial_errors == 0)) || die "some responses were not 2xx/3xx"
((events >= successful)) || die "$((successful - events)) successful tracking requests left no event"
((events - successful <= connections + socket_errors)) ||
    die "$((events - successful)) more events than successful requests: more than the requests that can be in flight"

#!/usr/bin/env bash
# bench/preferences.sh — the preference page and one-click unsubscribe under load, against a
# trivial route of the same server.
#
# Usage: bash bench/preferences.sh [--seconds N] [--people N] [--connections N] [--threads N]
#                                  [--no-build] [--keep]
#
#   --seconds N       length of each measured run (default 20); the baseline gets as long
#   --people N        subscribers, each with one sent message (default 100000)
#   --connections N   wrk connections (default 64)
#   --threads N       wrk threads (default 2)
#   --no-build        use the release binary as it is (built only when missing)
#   --keep            leave the private cluster running at the end
#
# One `facteur serve` (release build, LOG_LEVEL=warning) on a private PostgreSQL cluster with
# default durability, seeded by SQL: three topics (with French names), N subscribers (half of
# them French) subscribed to two, and one sent campaign on the first topic with a message to
# each. wrk then hits, in turn: GET /livez for half the time; GET /p/<token> (the preference
# page of each person in turn: two queries and a Mustache page); POST /u/<token> with
# `List-Unsubscribe=One-Click` (RFC 8058, each message once: a transaction that locks the person,
# unsubscribes them from the topic, and writes the consent log and the campaign's event before
# answering); /livez again. It prints the rates, their ratios to /livez, p99 latencies, and checks
# that every successful one-click left exactly one consent entry and one event.
# FACTEUR_BENCH_BINARY=path uses another binary; FACTEUR_BENCH_HOME=dir another FACTEUR_HOME.
# Needs wrk (Debian: apt-get install wrk), curl and python3. Exits non-zero when the run fails or
# an unsubscribe is missing, not when a rate is low.
set -euo pipefail

seconds=20
people=100000
connections=64
threads=2
build=true
keep=false

usage() { sed -n '2,28s/^# \{0,1\}//p' "$0"; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=http.sh
source "$repo/bench/http.sh"
http_bench_args people "$@"
((people >= 2)) || { echo "--people must be at least 2" >&2; exit 2; }

facteur="${FACTEUR_BENCH_BINARY:-$repo/.build-release/release/facteur}"
home="${FACTEUR_BENCH_HOME:-$repo}"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$repo/bench/lib.sh"

http_bench_start preferences people "$people"

# --- Database ----------------------------------------------------------------------------------------
fresh_db bench_preferences
url="host=$socket_dir user=postgres dbname=bench_preferences"
DATABASE_URL="$url" FACTEUR_HOME="$home" "$facteur" migrate >"$work/migrate.log" 2>&1 ||
    { cat "$work/migrate.log" >&2; die "facteur migrate failed"; }
log "seeding $(commas "$people") subscribers, their subscriptions and sent messages"
"$psql_bin" -X -q -v ON_ERROR_STOP=1 -d bench_preferences -v n="$people" <<'SQL'
INSERT INTO topics (key, name, description, translations) VALUES
  ('news', 'News', 'The monthly letter', '{"fr": {"name": "Actualités", "description": "La lettre mensuelle"}}'),
  ('events', 'Events', 'Invitations to our events', '{"fr": {"name": "Événements", "description": "Invitations"}}'),
  ('offers', 'Offers', 'Deals and discounts', '{"fr": {"name": "Offres", "description": "Bons plans"}}');
INSERT INTO subscribers (email, name, locale)
SELECT 'p' || g || '@bench.test', 'Person ' || g, CASE WHEN g % 2 = 0 THEN 'fr' ELSE 'en' END FROM generate_series(1, :n) AS g;
INSERT INTO subscriptions (subscriber_id, topic_id, status, source)
SELECT s.id, t.id, 'subscribed', 'import' FROM subscribers s, topics t WHERE t.key IN ('news', 'events');
INSERT INTO templates (name, subject, html) VALUES ('bench', 'Bench', '<p>{{unsubscribe_url}}</p>') RETURNING id AS template_id \gset
SELECT id AS topic_id FROM topics WHERE key = 'news' \gset
INSERT INTO campaigns (name, subject, from_email, template_id, topic_id, status, started_at, finished_at)
VALUES ('bench', 'Bench', 'news@bench.test', :template_id, :topic_id, 'sent', now() - interval '2 hours', now() - interval '1 hour');
INSERT INTO messages (campaign_id, subscriber_id, status, attempts, sent_at)
SELECT (SELECT max(id) FROM campaigns), id, 'sent', 1, now() - interval '1 hour' FROM subscribers;
ANALYZE;
SQL

secret="bench-preferences-secret-0123456789abcdefghijklmnopqrstuvwxyz"
sql bench_preferences "SELECT id FROM subscribers ORDER BY id" |
    FACTEUR_SECRET="$secret" python3 "$repo/bench/page_urls.py" preferences >"$work/pages.txt"
sql bench_preferences "SELECT id FROM messages ORDER BY id" |
    FACTEUR_SECRET="$secret" python3 "$repo/bench/page_urls.py" unsubscribe >"$work/all-unsubscribe.txt"
(($(wc -l <"$work/pages.txt") == people && $(wc -l <"$work/all-unsubscribe.txt") == people)) || die "page_urls.py wrote too few paths"
# The last message is checked by hand below; wrk gets the others.
head -n $((people - 1)) "$work/all-unsubscribe.txt" >"$work/unsubscribe.txt"

start_serve

# --- Check by hand before the load ---------------------------------------------------------------------
first_page=$(head -n 1 "$work/pages.txt")
curl -s "$base$first_page" | grep -q 'p1@bench.test' || die "GET $first_page did not show p1@bench.test's preferences"
[[ "$(curl -s -o /dev/null -w '%{http_code}' "$base$(sed -n 2p "$work/pages.txt")")" == 200 ]] || die "the second page did not answer 200"
one_click=$(tail -n 1 "$work/all-unsubscribe.txt")
answer=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -d 'List-Unsubscribe=One-Click' "$base$one_click")
[[ "$answer" == "200 " ]] || die "one-click POST $one_click answered '$answer', expected 200 without redirect"
[[ "$(sql bench_preferences "SELECT count(*) FROM consent_log WHERE source = 'one_click'")" == 1 ]] ||
    die "the one-click POST checked by hand left no consent entry"
log "checked two preference pages and one one-click POST with curl"

# --- Load ----------------------------------------------------------------------------------------------
lua="$repo/bench/track.lua"
half=$(((seconds + 1) / 2))
unsubscribes() { sql bench_preferences "SELECT (SELECT count(*) FROM consent_log WHERE source = 'one_click'), (SELECT count(*) FROM events WHERE type = 'unsubscribe')" | tr '|' ' '; }

TIMEFORMAT='%U %S'
printf 'wrk commands (order: trivial, pages, one-click, trivial):\n'
for spec in "$half path /livez" "$seconds paths $work/pages.txt $threads" \
    "$seconds paths $work/unsubscribe.txt $threads POST List-Unsubscribe=One-Click"; do
    # shellcheck disable=SC2086 # the spec is split on purpose
    wrk_args $spec
    printf '  %s\n' "$(quoted "${cmd[@]}")"
done
pg_log_start=$(($(wc -l <"$cluster/postgres.log") + 1))
serve_log_start=$(($(wc -l <"$work/serve.log") + 1))

run trivial1 "$half" path /livez
run pages "$seconds" paths "$work/pages.txt" "$threads"
read -r consent_before events_before < <(unsubscribes)
run oneclick "$seconds" paths "$work/unsubscribe.txt" "$threads" POST List-Unsubscribe=One-Click
sleep 1 # requests in flight when wrk stopped commit theirs
read -r consent_after events_after < <(unsubscribes)
run trivial2 "$half" path /livez

# --- Figures -----------------------------------------------------------------------------------------
trivial_requests=$(($(field trivial1 requests) + $(field trivial2 requests)))
trivial_errors=$(($(field trivial1 errors) + $(field trivial2 errors)))
trivial_rps=$(awk -v n="$trivial_requests" -v a="$(field trivial1 seconds)" -v b="$(field trivial2 seconds)" 'BEGIN { printf "%d", n / (a + b) }')
trivial_p99=$(awk -v a="$(field trivial1 p99_ms)" -v b="$(field trivial2 p99_ms)" 'BEGIN { printf "%.1f", (a > b ? a : b) }')
rate() { awk -v r="$(field "$1" rps)" 'BEGIN { printf "%d", r }'; }
ratio() { awk -v a="$(rate "$1")" -v b="$trivial_rps" 'BEGIN { printf "%.2f", a / b }'; }
oneclick_ok=$(($(field oneclick requests) - $(field oneclick errors)))
# Each message is unsubscribed once; should wrk go round the file, repeats change nothing.
expected=$((oneclick_ok < people - 1 ? oneclick_ok : people - 1))
consent=$((consent_after - consent_before))
events=$((events_after - events_before))

printf '\npreference benchmark: %s people, wrk %s threads × %s connections, one facteur serve (release)\n' \
    "$(commas "$people")" "$threads" "$connections"
printf 'cpu: %s × %s; wrk, facteur and PostgreSQL share it\n' "$(nproc)" \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
printf 'order: /livez %s s, pages %s s, one-click %s s, /livez %s s\n' "$half" "$seconds" "$seconds" "$half"
printf '  %-26s %9s req/s  p99 %7s ms  (%s requests, %s errors)\n' "trivial   GET /livez" "$(commas "$trivial_rps")" \
    "$trivial_p99" "$(commas "$trivial_requests")" "$trivial_errors"
for name in pages oneclick; do
    label=$([[ $name == pages ]] && echo "page      GET /p/{token}" || echo "one-click POST /u/{token}")
    printf '  %-26s %9s req/s  p99 %7s ms  (%s requests, %s errors; p50 %s ms)  ratio to /livez %s\n' "$label" \
        "$(commas "$(rate "$name")")" "$(field "$name" p99_ms)" "$(commas "$(field "$name" requests)")" \
        "$(field "$name" errors)" "$(field "$name" p50_ms)" "$(ratio "$name")"
done
printf '  %-26s %s consent entries and %s events for %s successful one-click requests (expected %s each)\n' \
    "one-click persisted" "$(commas "$consent")" "$(commas "$events")" "$(commas "$oneclick_ok")" "$(commas "$expected")"
printf '  %-26s pages: %s; one-click: %s; /livez: %s (of %s s × %s cores each)\n' "CPU time" "$(cpu_line pages)" \
    "$(cpu_line oneclick)" "$(cpu_line trivial1 trivial2)" "$seconds" "$(nproc)"
slow=$(tail -n +"$pg_log_start" "$cluster/postgres.log" | grep -c 'duration: ' || true)
((slow == 0)) || printf '  PostgreSQL statements of 250 ms or more during the runs: %s\n' "$slow"
server_lines=$(tail -n +"$serve_log_start" "$work/serve.log" | wc -l)
if ((server_lines > 0)); then
    printf '  server log lines (warning or worse) during the runs: %s, e.g.\n' "$server_lines"
    tail -n +"$serve_log_start" "$work/serve.log" | head -n 3 | cut -c1-160 | sed 's/^/    /'
fi

((trivial_errors == 0 && $(field pages errors) == 0 && $(field oneclick errors) == 0)) || die "some responses were not 2xx/3xx"
# wrk stops with requests in flight: those may commit without wrk counting them.
((consent >= expected && consent <= expected + connections)) || die "one-click: $consent consent entries for $expected expected"
((events == consent)) || die "one-click: $events events for $consent consent entries"

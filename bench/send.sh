#!/usr/bin/env bash
# bench/send.sh — one `facteur worker` (release build) sending a real campaign to Postfix's
# smtp-sink, against smtp-source sending raw messages of the same size to the same sink.
#
# Usage: bash bench/send.sh [--messages N] [--modes "off rsa"] [--build] [--keep]
#
#   --messages N   subscribers in the campaign (default 100000)
#   --modes LIST   DKIM modes to measure, from: off rsa both (default "off rsa")
#   --build        rebuild the release binary first (it is built anyway when missing)
#   --keep         leave the private cluster running at the end
#
# Each mode gets a fresh database in a private PostgreSQL cluster: N active subscribers with
# three custom fields, a topic they are all subscribed to, the render benchmark's 30 KB template
# with 20 links, and a campaign that `facteur campaign start` materializes. The worker is timed
# from its start until no message is queued or sending; its peak RSS is read from /proc.
# Worker settings come from the environment as usual (FACTEUR_WORKER_LANES, FACTEUR_WORKER_BATCH);
# SMTP_MAX_CONNECTIONS (default 16) sets the pool size.
# Needs postfix (smtp-sink, smtp-source) and openssl; exits non-zero if a message is not sent.
set -euo pipefail

messages=100000
modes="off rsa"
build=false
keep=false

usage() { sed -n '2,19s/^# \{0,1\}//p' "$0"; }

while (($# > 0)); do
    case "$1" in
    --messages) messages="${2:-}"; shift 2 || { usage >&2; exit 2; } ;;
    --messages=*) messages="${1#*=}"; shift ;;
    --modes) modes="${2:-}"; shift 2 || { usage >&2; exit 2; } ;;
    --modes=*) modes="${1#*=}"; shift ;;
    --build) build=true; shift ;;
    --keep) keep=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
[[ "$messages" =~ ^[1-9][0-9]*$ ]] || { echo "--messages must be a positive whole number" >&2; exit 2; }
for mode in $modes; do
    [[ "$mode" =~ ^(off|rsa|both)$ ]] || { echo "--modes takes off, rsa and both; got $mode" >&2; exit 2; }
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
facteur="${FACTEUR_BENCH_BINARY:-$repo/.build-release/release/facteur}"
source "$repo/bench/lib.sh"

sink_bin=/usr/sbin/smtp-sink
source_bin=/usr/sbin/smtp-source
[[ -x "$sink_bin" && -x "$source_bin" ]] ||
    die "smtp-sink and smtp-source come with Postfix: DEBIAN_FRONTEND=noninteractive apt-get install -y postfix"
command -v openssl >/dev/null 2>&1 || die "the openssl command is needed to make the DKIM keys"
build_facteur

work="$(mktemp -d "${TMPDIR:-/tmp}/facteur-bench-send.XXXXXX")"
sink_pid=""
worker_pid=""
bench_cleanup() {
    [[ -n "$worker_pid" ]] && kill -KILL "$worker_pid" 2>/dev/null
    [[ -n "$sink_pid" ]] && kill "$sink_pid" 2>/dev/null
    rm -rf "$work"
}
start_cluster

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

port=$(free_port)
sink_user=()
if $as_root; then sink_user=(-u nobody); fi
"$sink_bin" "${sink_user[@]}" "127.0.0.1:$port" 1024 &
sink_pid=$!
sleep 0.3
kill -0 "$sink_pid" 2>/dev/null || die "smtp-sink did not start"

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/rsa.pem" 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$work/ed25519.pem" 2>/dev/null
FACTEUR_HOME="$repo" "$facteur" bench-render --write-template "$work"

# --- Baseline: raw messages of the campaign's size --------------------------------------------------
# The size of one rendered message: the campaign itself, rendered for its first subscriber below,
# is about the template plus its text part; measure it from a sample instead of guessing.
FACTEUR_HOME="$repo" "$facteur" bench-render --count 50 --dkim none --stage-count 0 --warmup 0 --sample "$work/sample.eml" >/dev/null
size=$(stat -c %s "$work/sample.eml")
log "smtp-source: $messages messages of $size bytes, 20 sessions"
t0=$(now)
"$source_bin" -s 20 -m "$messages" -l "$size" "127.0.0.1:$port"
t1=$(now)
source_seconds=$(elapsed "$t0" "$t1")
source_rate=$(awk -v n="$messages" -v s="$source_seconds" 'BEGIN { printf "%d", n / s }')

# --- facteur worker, per DKIM mode ------------------------------------------------------------------
declare -A rates seconds peaks starts
for mode in $modes; do
    fresh_db bench_send
    url="host=$socket_dir user=postgres dbname=bench_send"
    DATABASE_URL="$url" FACTEUR_HOME="$repo" "$facteur" migrate >"$work/migrate.log" 2>&1 ||
        { cat "$work/migrate.log" >&2; die "facteur migrate failed"; }
    sql bench_send "
        INSERT INTO fields (key, type, label) VALUES ('city', 'text', 'City'), ('plan', 'text', 'Plan'), ('points', 'number', 'Points');
        INSERT INTO topics (key, name) VALUES ('offres', 'Offres');
        INSERT INTO subscribers (email, name, status, locale, attributes, confirmed_at)
        SELECT 'client' || g || '@example.net', 'Élodie Client' || g, 'active', 'fr',
               jsonb_build_object('city', 'Lyon', 'plan', 'premium', 'points', g % 1000), now()
          FROM generate_series(1, $messages) AS g;
        INSERT INTO subscriptions (subscriber_id, topic_id, status, source) SELECT id, 1, 'subscribed', 'import' FROM subscribers;"
    "$psql_bin" -X -q -v ON_ERROR_STOP=1 -At -d bench_send -v html="$(cat "$work/template.html")" \
        -v subject="$(cat "$work/subject.txt")" <<'SQL'
INSERT INTO templates (name, subject, html, layout) VALUES ('bench', :'subject', :'html', 'default');
INSERT INTO campaigns (name, subject, from_name, from_email, template_id, topic_id)
VALUES ('Soldes', :'subject', 'Maison Lumière', 'bonjour@maison-lumiere.example.fr', 1, 1);
SQL
    t0=$(now)
    DATABASE_URL="$url" FACTEUR_HOME="$repo" "$facteur" campaign start 1 >/dev/null
    t1=$(now)
    starts[$mode]=$(elapsed "$t0" "$t1")

    dkim=""
    case "$mode" in
    rsa) dkim="bench:maison-lumiere.example.fr:$work/rsa.pem" ;;
    both) dkim="bench:maison-lumiere.example.fr:$work/rsa.pem,bench2:maison-lumiere.example.fr:$work/ed25519.pem" ;;
    esac
    log "facteur worker, DKIM $mode: $messages messages"
    t0=$(now)
    DATABASE_URL="$url" FACTEUR_HOME="$repo" FACTEUR_SECRET="bench-secret-0123456789abcdefghijklmnop" \
        SMTP_URL="smtp://127.0.0.1:$port?max_connections=${SMTP_MAX_CONNECTIONS:-16}" FACTEUR_DKIM="$dkim" \
        FACTEUR_WORKER_PORT="$(free_port)" FACTEUR_BASE_URL="https://news.maison-lumiere.example.fr" LOG_LEVEL=warning \
        "$facteur" worker >"$work/worker-$mode.log" 2>&1 &
    worker_pid=$!
    peak=0
    while true; do
        sleep 0.25
        kill -0 "$worker_pid" 2>/dev/null || { cat "$work/worker-$mode.log" >&2; die "the worker exited"; }
        rss=$(rss_kb "$worker_pid")
        ((rss > peak)) && peak=$rss
        left=$(sql bench_send "SELECT count(*) FROM messages WHERE status IN ('queued', 'sending')")
        [[ "$left" == 0 ]] && break
    done
    t1=$(now)
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$worker_pid/status")
    ((hwm > peak)) && peak=$hwm
    kill -TERM "$worker_pid"
    wait "$worker_pid" || true
    worker_pid=""
    sent=$(sql bench_send "SELECT count(*) FROM messages WHERE status = 'sent'")
    [[ "$sent" == "$messages" ]] || {
        sql bench_send "SELECT status, count(*), min(smtp_reply) FROM messages GROUP BY status" >&2
        die "DKIM $mode: $sent of $messages messages sent"
    }
    seconds[$mode]=$(elapsed "$t0" "$t1")
    rates[$mode]=$(awk -v n="$messages" -v s="${seconds[$mode]}" 'BEGIN { printf "%d", n / s }')
    peaks[$mode]=$((peak / 1024))
done

printf '\nsend benchmark: %s messages of about %s bytes, one facteur worker, smtp-sink on loopback\n' \
    "$(commas "$messages")" "$(commas "$size")"
printf 'cpu: %s; load average before: %s\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '  %-34s %10s msg/s  (%s s)\n' "smtp-source -s 20 (baseline)" "$(commas "$source_rate")" "$source_seconds"
for mode in $modes; do
    ratio=$(awk -v a="${rates[$mode]}" -v b="$source_rate" 'BEGIN { printf "%.3f", a / b }')
    printf '  %-34s %10s msg/s  (%s s; ratio %s; peak RSS %s MB; campaign start %s s)\n' "facteur worker, DKIM $mode" \
        "$(commas "${rates[$mode]}")" "${seconds[$mode]}" "$ratio" "${peaks[$mode]}" "${starts[$mode]}"
done
printf '\nGoals (issue 4, this 2-core machine)\n'
goal() { printf '  %-40s %10s   %s\n' "$1" "$2" "$3"; }
if [[ -n "${rates[off]:-}" ]]; then
    ratio=$(awk -v a="${rates[off]}" -v b="$source_rate" 'BEGIN { printf "%.3f", a / b }')
    goal "DKIM off ≥ 0.6 × smtp-source" "$ratio" "$(awk -v r="$ratio" 'BEGIN { print (r >= 0.6 ? "PASS" : "MISS") }')"
fi
if [[ -n "${rates[rsa]:-}" ]]; then
    goal "DKIM RSA-2048 ≥ 2,500 msg/s" "$(commas "${rates[rsa]}")" "$( ((rates[rsa] >= 2500)) && echo PASS || echo MISS)"
fi
for mode in $modes; do
    goal "peak RSS ≤ 80 MB (DKIM $mode)" "${peaks[$mode]} MB" "$( ((peaks[$mode] <= 80)) && echo PASS || echo MISS)"
done

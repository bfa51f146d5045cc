#!/usr/bin/env bash
# Stops Facteur's private PostgreSQL clusters (`facteur dev`'s .facteur/pg, the tests'
# .facteur/test-pg, any other .facteur/*/data) and removes them with the rest of .facteur/.
#
#   scripts/clean-db.sh              # stop every cluster, then rm -rf .facteur
#   scripts/clean-db.sh --stop-only  # stop them, keep the data
#
# As root the clusters belong to the postgres user, so pg_ctl runs through `runuser -u postgres`
# (as LocalCluster does). A cluster whose directory the postgres user cannot reach (a checkout
# under /root) lives in /var/tmp/facteur-<hash of its requested path>: it is found and removed too.
set -euo pipefail

stop_only=0
if [ "${1:-}" = --stop-only ]; then
    stop_only=1
fi

cd "$(dirname "$0")/.."
root="$(pwd -P)"

# initdb's directory: on PATH, else the newest /usr/lib/postgresql/*/bin.
pg_bin=""
if command -v pg_ctl > /dev/null 2>&1; then
    pg_bin="$(dirname "$(command -v pg_ctl)")"
else
    pg_bin="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/pg_ctl' 2> /dev/null | sort -V | tail -n 1 | xargs -r dirname)"
fi

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# LocalCluster.shortHash: FNV-1a 64 of the UTF-8 path, in base 36.
short_hash() {
    python3 - "$1" << 'EOF'
import sys
h = 0xcbf29ce484222325
for b in sys.argv[1].encode():
    h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
digits = "0123456789abcdefghijklmnopqrstuvwxyz"
out = ""
while True:
    h, r = divmod(h, 36)
    out = digits[r] + out
    if h == 0:
        break
print(out)
EOF
}

# Every directory that may hold a cluster: .facteur/NAME and its /var/tmp stand-in.
candidates=()
if [ -d .facteur ]; then
    for requested in .facteur/*/; do
        [ -d "$requested" ] || continue
        requested="$root/${requested%/}"
        candidates+=("$requested")
        if command -v python3 > /dev/null 2>&1; then
            candidates+=("/var/tmp/facteur-$(short_hash "$requested")")
        fi
    done
fi

status=0
for directory in "${candidates[@]}"; do
    [ -f "$directory/data/PG_VERSION" ] || continue
    if [ -z "$pg_bin" ]; then
        echo "clean-db: pg_ctl not found; cannot stop the cluster in $directory" >&2
        status=1
        continue
    fi
    if as_owner "$pg_bin/pg_ctl" -D "$directory/data" status > /dev/null 2>&1; then
        echo "clean-db: stopping the cluster in $directory"
        as_owner "$pg_bin/pg_ctl" -D "$directory/data" -m fast -w -t 60 stop > /dev/null || status=1
    fi
done

if [ "$stop_only" -eq 0 ]; then
    if [ "$status" -ne 0 ]; then
        echo "clean-db: a cluster did not stop; nothing removed" >&2
        exit "$status"
    fi
    for directory in "${candidates[@]}"; do
        if [[ "$directory" == /var/tmp/facteur-* ]]; then
            rm -rf "$directory" "$directory.lock"
        fi
        # LocalCluster puts the socket of a long path (over 80 bytes) under /tmp.
        if [ "${#directory}" -gt 80 ]; then
            rm -rf "/tmp/facteur-sock-$(short_hash "$directory")"
        fi
    done
    rm -rf .facteur
    echo "clean-db: removed .facteur"
fi
exit "$status"

#!/usr/bin/env bash
# bench/render.sh — messages/s of render + links + MIME + DKIM, in memory, on one core.
#
# Usage: bash bench/render.sh [--count N] [--build] [-- bench-render options…]
#
#   --count N   distinct subscribers rendered per mode (default 20000)
#   --build     rebuild the release binary first (it is built anyway when missing)
#   -- …        passed to `facteur bench-render`, e.g. `-- --dkim none --layout none`
#
# Runs the hidden `facteur bench-render` command (Sources/facteur/BenchRender.swift) with
# FACTEUR_HOME set to this repository (layout templates/email/default.mustache) and a fresh
# RSA-2048 and Ed25519 key made here with openssl. It prints messages/s without DKIM, with
# RSA-2048, with RSA-2048 + Ed25519, the raw RSA-2048 sign rate of the same backend, their
# ratio, the goals of issue 3 with PASS/MISS, and a per-stage breakdown. The first signed
# message is checked with Python's email parser and, when dkimpy is installed, its signatures
# are verified. FACTEUR_BENCH_BINARY=path uses another facteur binary.
# Exits non-zero when the run fails, not when a goal is missed.
set -euo pipefail

count=20000
build=false
extra=()

usage() { sed -n '2,18s/^# \{0,1\}//p' "$0"; }

while (($# > 0)); do
    case "$1" in
    --count) count="${2:-}"; shift 2 || { usage >&2; exit 2; } ;;
    --count=*) count="${1#*=}"; shift ;;
    --build) build=true; shift ;;
    --) shift; extra=("$@"); break ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
[[ "$count" =~ ^[1-9][0-9]*$ ]] || { echo "--count must be a positive whole number" >&2; exit 2; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
facteur="${FACTEUR_BENCH_BINARY:-$repo/.build-release/release/facteur}"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

command -v openssl >/dev/null 2>&1 || die "the openssl command is needed to make the DKIM keys"

if $build || [[ ! -x "$facteur" ]]; then
    log "building facteur (release; the first build takes several minutes)"
    (cd "$repo" && swift build -c release --scratch-path .build-release --product facteur)
fi
[[ -x "$facteur" ]] || die "$facteur was not built"

work="$(mktemp -d "${TMPDIR:-/tmp}/facteur-bench-render.XXXXXX")"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

log "making an RSA-2048 and an Ed25519 key"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/rsa.pem" 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$work/ed25519.pem" 2>/dev/null

log "cpu: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || echo unknown)," \
    "load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
FACTEUR_HOME="$repo" "$facteur" bench-render --count "$count" \
    --rsa-key "$work/rsa.pem" --ed25519-key "$work/ed25519.pem" --sample "$work/sample.eml" "${extra[@]}"

# The first message of the heaviest mode, read back by independent code.
if command -v python3 >/dev/null 2>&1 && [[ -s "$work/sample.eml" ]]; then
    python3 - "$work" <<'PY' || die "the sample message did not check out"
import base64, email, email.policy, subprocess, sys
work = sys.argv[1]
raw = open(f"{work}/sample.eml", "rb").read()
message = email.message_from_bytes(raw, policy=email.policy.default)
subject = str(message["subject"])
assert "offre d'été ☀️ : -30 % sur tout" in subject, subject
html = message.get_body(("html",)).get_content()
text = message.get_body(("plain",)).get_content()
assert "/t/o/" in html and "/t/c/" in html and "https://" in text
line = f"sample message: parsed by Python's email package, subject {subject!r}"
try:
    import dkim
except ImportError:
    print(line + "; dkimpy not installed, signatures not verified")
    sys.exit(0)

def record(path, kind):
    der = subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    key = der if kind == "rsa" else der[-32:]
    return f"v=DKIM1; k={kind}; p={base64.b64encode(key).decode()}".encode()

records = {b"rsa2025": record(f"{work}/rsa.pem", "rsa"), b"ed2025": record(f"{work}/ed25519.pem", "ed25519")}
def lookup(name, timeout=5):
    return records.get(name.split(b".")[0])
signatures = raw.count(b"DKIM-Signature:")
verifier = dkim.DKIM(raw)
results = [verifier.verify(idx=i, dnsfunc=lookup) for i in range(signatures)]
assert signatures > 0 and all(results), results
print(line + f"; {signatures} DKIM signature(s) verified by dkimpy")
PY
fi

#!/usr/bin/env bash
# Installs what a fresh Debian 12 (or Ubuntu) machine lacks to build, run and test Facteur.
#
#   scripts/install-deps.sh run    # build + `facteur dev` (the default)
#   scripts/install-deps.sh test   # also what `swift test` needs
#
# Idempotent and fast when everything is present: it checks with dpkg-query / command -v and
# only runs `apt-get update` + `apt-get install` when something is missing. The Swift toolchain
# itself is not installed here (see swift.org/install); the script only checks it is on PATH.
#
# The system PostgreSQL service is neither needed nor started: Facteur runs its own private
# cluster under .facteur/ with the server binaries (initdb, pg_ctl) from
# /usr/lib/postgresql/*/bin. Debian's package may create a cluster `main`; that is harmless.
set -euo pipefail

mode="${1:-run}"
case "$mode" in
    run | test) ;;
    *)
        echo "usage: $0 [run|test]" >&2
        exit 2
        ;;
esac

# --- What is needed -------------------------------------------------------------------------

# Debian packages for building (libpq, OpenSSL's libcrypto through pkg-config), running
# (`facteur dev` starts initdb/pg_ctl; tzdata for subscribers' time zones), the Makefile and the
# helper scripts. A machine with only the Swift toolchain lacks make.
RUN_DEBS=(postgresql postgresql-contrib libpq-dev pkg-config libssl-dev ca-certificates curl python3 make tzdata)

# Debian packages only the tests need: openssl makes test keys and certificates; postfix brings
# smtp-sink and smtp-source (its mail system is left unconfigured and not started); chromium
# and its WebDriver run the preference-center pages in a real headless browser.
TEST_DEBS=(openssl postfix chromium chromium-driver)

# ==== LATER TEST DEPENDENCIES ================================================================
# What the tests of later issues will need. Off until those tests land: set
# FACTEUR_LATER_TEST_DEPS=1 below (or in the environment) to install them with `test`.
# Move single items into TEST_DEBS / TEST_PIP instead to enable them one by one.
FACTEUR_LATER_TEST_DEPS="${FACTEUR_LATER_TEST_DEPS:-0}"
LATER_TEST_DEBS=(
    wrk # HTTP load generator for benchmarks
)
LATER_TEST_PIP=()
# ============================================================================================

# dkimpy verifies our DKIM signatures in MailTests; pynacl gives it Ed25519; aiosmtpd is the
# scriptable SMTP server (STARTTLS, AUTH, failures on demand) of the SMTP and worker tests;
# selenium drives chromium through chromium-driver in the browser test.
TEST_PIP=(dkimpy pynacl aiosmtpd selenium)

# --- Helpers --------------------------------------------------------------------------------

log() { echo "install-deps: $*"; }

SUDO=()
if [ "$(id -u)" -ne 0 ] && command -v sudo > /dev/null 2>&1; then
    SUDO=(sudo)
fi

deb_installed() {
    dpkg-query -W -f='${Status}' "$1" 2> /dev/null | grep -q 'install ok installed'
}

has_pip() {
    python3 -m pip --version > /dev/null 2>&1
}

# Prints the distributions in "$@" that python3 cannot find.
missing_pip_packages() {
    python3 - "$@" << 'EOF'
import importlib.metadata, sys
for name in sys.argv[1:]:
    try:
        importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        print(name)
EOF
}

# --- Work out what is missing ---------------------------------------------------------------

debs=("${RUN_DEBS[@]}")
pips=()
if [ "$mode" = test ]; then
    debs+=("${TEST_DEBS[@]}")
    pips+=("${TEST_PIP[@]}")
    if [ "$FACTEUR_LATER_TEST_DEPS" = 1 ]; then
        debs+=("${LATER_TEST_DEBS[@]}")
        pips+=("${LATER_TEST_PIP[@]}")
    fi
fi

if ! command -v dpkg-query > /dev/null 2>&1 || ! command -v apt-get > /dev/null 2>&1; then
    log "not a Debian/Ubuntu system: install these yourself: ${debs[*]} ${pips[*]}"
    if ! pkg-config --exists libpq 2> /dev/null; then
        log "warning: pkg-config does not find libpq"
    fi
    exit 0
fi

missing_debs=()
for package in "${debs[@]}"; do
    deb_installed "$package" || missing_debs+=("$package")
done
if [ "${#pips[@]}" -gt 0 ] && ! has_pip && ! deb_installed python3-pip; then
    missing_debs+=(python3-pip)
fi

# --- Install --------------------------------------------------------------------------------

if [ "${#missing_debs[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ] && [ "${#SUDO[@]}" -eq 0 ]; then
        log "missing ${missing_debs[*]}, and this is not root and sudo is absent" >&2
        exit 1
    fi
    log "installing ${missing_debs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # postfix is only wanted for its smtp-sink: no mail system configuration, no questions.
    if printf '%s\n' "${missing_debs[@]}" | grep -qx postfix; then
        printf '%s\n' \
            'postfix postfix/main_mailer_type select No configuration' \
            'postfix postfix/mailname string localhost' |
            "${SUDO[@]}" debconf-set-selections
    fi
    "${SUDO[@]}" apt-get update -q
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing_debs[@]}"
    # Only smtp-sink/smtp-source are wanted: should the install have started Postfix's mail
    # system anyway, stop it (it must not keep running on a developer's or CI machine).
    if printf '%s\n' "${missing_debs[@]}" | grep -qx postfix && command -v postfix > /dev/null 2>&1; then
        "${SUDO[@]}" postfix status > /dev/null 2>&1 && "${SUDO[@]}" postfix stop > /dev/null 2>&1 || true
    fi
fi

if [ "${#pips[@]}" -gt 0 ]; then
    mapfile -t missing_pips < <(missing_pip_packages "${pips[@]}")
    if [ "${#missing_pips[@]}" -gt 0 ]; then
        log "pip installing ${missing_pips[*]}"
        pip_flags=(--quiet --disable-pip-version-check)
        # Debian's own python3 refuses pip installs into it (PEP 668) unless told otherwise;
        # a pyenv or venv python3 has no such marker.
        if python3 -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))'; then
            pip_flags+=(--break-system-packages)
        fi
        if [ "$(id -u)" -ne 0 ] && ! python3 -c 'import os, sys, sysconfig; sys.exit(not os.access(sysconfig.get_path("purelib"), os.W_OK))'; then
            pip_flags+=(--user)
        fi
        python3 -m pip install "${pip_flags[@]}" "${missing_pips[@]}"
    fi
fi

# --- Check the result -----------------------------------------------------------------------

shopt -s nullglob
initdbs=(/usr/lib/postgresql/*/bin/initdb)
shopt -u nullglob
if [ "${#initdbs[@]}" -eq 0 ] && ! command -v initdb > /dev/null 2>&1; then
    log "error: PostgreSQL's initdb is not under /usr/lib/postgresql/*/bin nor on PATH" >&2
    exit 1
fi
if ! pkg-config --exists libpq; then
    log "error: pkg-config cannot find libpq (libpq-dev)" >&2
    exit 1
fi
if ! command -v swift > /dev/null 2>&1; then
    log "warning: swift is not on PATH; install the Swift 6 toolchain from swift.org" >&2
fi
if [ "${#missing_debs[@]}" -eq 0 ]; then
    log "everything for '$mode' is present"
fi

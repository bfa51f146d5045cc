#!/usr/bin/env bash
# Regenerates the real Postfix delivery-status notifications in Tests/FacteurTests/Fixtures/bounces/
# (the postfix-*.eml files) that BounceReportTests parses.
#
#   sudo scripts/bounce-fixtures.sh
#
# Needs root and Debian's postfix package (installed here when missing). It runs a private Postfix
# instance from a temporary directory, never the system one: its own main.cf/master.cf, queue and
# data directories, an smtpd listening on 127.0.0.1 only, and no route off the machine. Two
# smtp-sink processes on loopback play the remote MTAs: one rejects every RCPT with 550 5.1.1, the
# other with 452 4.2.2. Mail submitted to the private smtpd bounces or is delayed there, and
# Postfix's bounce daemon mails the DSN back to the VERP-style sender, whose domain is a virtual
# mailbox domain delivered into a Maildir. The script stops that Postfix (`postfix -c DIR stop`)
# and the smtp-sinks (by their pids) on exit.
#
# Mail goes in over SMTP, not `sendmail -C DIR`, which Postfix refuses unless the system main.cf
# lists DIR. The MAIL/RCPT parameters RET=HDRS, NOTIFY, ENVID, ORCPT and SMTPUTF8 ask for what
# `sendmail -R hdrs -N failure -V envid -SMTPUTF8` would.
#
# Ports can be changed with FIXTURE_SMTPD_PORT, FIXTURE_FAIL_PORT, FIXTURE_DELAY_PORT; KEEP_WORK=1 keeps
# the temporary directory (configuration, queue, maillog) for a look after the run.
set -euo pipefail

cd "$(dirname "$0")/.."
out="Tests/FacteurTests/Fixtures/bounces"
smtpd_port="${FIXTURE_SMTPD_PORT:-25250}"
fail_port="${FIXTURE_FAIL_PORT:-25251}"
delay_port="${FIXTURE_DELAY_PORT:-25252}"

if [ "$(id -u)" -ne 0 ]; then
    echo "$0: needs root (Postfix's master and delivery agents change user)" >&2
    exit 1
fi
if ! command -v postfix > /dev/null 2>&1 || ! command -v smtp-sink > /dev/null 2>&1; then
    # "No configuration" leaves the system instance unconfigured and stopped.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y postfix
fi
mkdir -p "$out"

work="$(mktemp -d /tmp/facteur-postfix.XXXXXX)"
chmod 755 "$work" # the virtual delivery agent runs as nobody and must reach the Maildir
conf="$work/etc"
sink_pids=()
postfix_started=0

cleanup() {
    local status=$?
    if [ "$status" -ne 0 ] && [ -f "$work/postfix.log" ]; then
        echo "failed; the private Postfix's log follows" >&2
        tail -n 40 "$work/postfix.log" >&2
    fi
    if [ "$postfix_started" -eq 1 ]; then
        postfix -c "$conf" stop > /dev/null 2>&1 || true
        # The master exits a moment after `stop`; wait for its pid file to go.
        for _ in $(seq 1 50); do
            [ -f "$work/queue/pid/master.pid" ] || break
            pid="$(tr -d ' ' < "$work/queue/pid/master.pid")"
            kill -0 "$pid" 2> /dev/null || break
            sleep 0.1
        done
    fi
    for pid in "${sink_pids[@]}"; do
        kill "$pid" 2> /dev/null || true
        wait "$pid" 2> /dev/null || true
    done
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$conf" "$work/queue" "$work/data" "$work/mail"
chown postfix "$work/data"
chown nobody:nogroup "$work/mail"

cat > "$conf/main.cf" << EOF
compatibility_level = 3.6
queue_directory = $work/queue
data_directory = $work/data
maillog_file = $work/postfix.log
maillog_file_prefixes = $work
myhostname = mx.facteur.test
mydomain = facteur.test
myorigin = \$mydomain
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
biff = no
smtputf8_enable = yes

# The VERP return paths (bounces+TOKEN@mail.facteur.test) land in one Maildir.
virtual_mailbox_domains = mail.facteur.test
virtual_mailbox_base = $work/mail
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534

# Only the two sinks are reachable; anything else fails here instead of leaving the machine.
transport_maps = inline:{fail.example=smtp:[127.0.0.1]:$fail_port, delay.example=smtp:[127.0.0.1]:$delay_port}
default_transport = error:5.4.4 no route off this test machine
relay_transport = \$default_transport
virtual_alias_maps = inline:{old-address@fail.example=renamed@fail.example}
smtp_dns_support_level = disabled

# Retry fast, warn about a delay after a few seconds, never give up during the run.
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
delay_warning_time = 3s
maximal_queue_lifetime = 1h
bounce_queue_lifetime = 1h
EOF

cat > "$conf/master.cf" << EOF
127.0.0.1:$smtpd_port inet n - n - - smtpd
pickup    unix  n - n 60   1 pickup
cleanup   unix  n - n -    0 cleanup
qmgr      unix  n - n 300  1 qmgr
rewrite   unix  - - n -    - trivial-rewrite
bounce    unix  - - n -    0 bounce
defer     unix  - - n -    0 bounce
trace     unix  - - n -    0 bounce
verify    unix  - - n -    1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -    - proxymap
smtp      unix  - - n -    - smtp
relay     unix  - - n -    - smtp
showq     unix  n - n -    - showq
error     unix  - - n -    - error
retry     unix  - - n -    - error
discard   unix  - - n -    - discard
virtual   unix  - n n -    - virtual
anvil     unix  - - n -    1 anvil
scache    unix  - - n -    1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF

smtp-sink -u nobody -f rcpt -B "550 5.1.1 Recipient address rejected: User unknown in virtual mailbox table" \
    "127.0.0.1:$fail_port" 10 &
sink_pids+=("$!")
smtp-sink -u nobody -r rcpt -b "452 4.2.2 Mailbox full, try again later" "127.0.0.1:$delay_port" 10 &
sink_pids+=("$!")

postfix -c "$conf" check
postfix -c "$conf" start
postfix_started=1

# Waits for the private smtpd to accept connections.
for _ in $(seq 1 50); do
    if (exec 3<> "/dev/tcp/127.0.0.1/$smtpd_port") 2> /dev/null; then break; fi
    sleep 0.2
done

# Reads one (possibly multi-line) SMTP reply from fd 3 and fails unless its code starts with $1.
expect_reply() {
    local line
    while IFS= read -r -t 30 line <&3; do
        line="${line%$'\r'}"
        if [ "${line:3:1}" != "-" ]; then
            if [ "${line:0:1}" != "$1" ]; then
                echo "unexpected SMTP reply: $line" >&2
                return 1
            fi
            return 0
        fi
    done
    echo "no SMTP reply" >&2
    return 1
}

# smtp_send MAIL-FROM-LINE RCPT-LINE... < message: one SMTP transaction with the given commands.
smtp_send() {
    local mail_from="$1"
    shift
    exec 3<> "/dev/tcp/127.0.0.1/$smtpd_port"
    expect_reply 2
    printf 'EHLO client.facteur.test\r\n' >&3
    expect_reply 2
    printf '%s\r\n' "$mail_from" >&3
    expect_reply 2
    for rcpt in "$@"; do
        printf '%s\r\n' "$rcpt" >&3
        expect_reply 2
    done
    printf 'DATA\r\n' >&3
    expect_reply 3
    # Dot-stuff and end every line with CRLF.
    sed -e 's/\r$//' -e 's/^\./../' -e 's/$/\r/' >&3
    printf '.\r\n' >&3
    expect_reply 2
    printf 'QUIT\r\n' >&3
    expect_reply 2
    exec 3<&-
}

date_header="$(LC_ALL=C date -R)"

# 1. A campaign message (Message-ID, List-Unsubscribe) to an unknown mailbox; full content returned.
smtp_send "MAIL FROM:<bounces+c17.s4242@mail.facteur.test> RET=FULL ENVID=c17-s4242" \
    "RCPT TO:<missing@fail.example> NOTIFY=FAILURE ORCPT=rfc822;missing@fail.example" << EOF
From: Facteur News <news@facteur.test>
To: missing@fail.example
Subject: Our spring newsletter
Date: $date_header
Message-ID: <c17.s4242.1@facteur.test>
List-Unsubscribe: <https://facteur.test/u/c17.s4242>, <mailto:unsubscribe+c17.s4242@facteur.test>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt-c17"

--alt-c17
Content-Type: text/plain; charset=utf-8

Hello, here is the spring newsletter.

--alt-c17
Content-Type: text/html; charset=utf-8

<p>Hello, here is the spring newsletter.</p>

--alt-c17--
EOF

# 2. Headers only returned (RET=HDRS), as `sendmail -N failure -R hdrs` would ask.
smtp_send "MAIL FROM:<bounces+c17.s4243@mail.facteur.test> RET=HDRS" \
    "RCPT TO:<nobody@fail.example> NOTIFY=FAILURE" << EOF
From: Facteur News <news@facteur.test>
To: nobody@fail.example
Subject: Headers only, please
Date: $date_header
Message-ID: <c17.s4243.1@facteur.test>
List-Unsubscribe: <https://facteur.test/u/c17.s4243>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

This body is not returned in the bounce.
EOF

# 3. Two failed recipients in one report; one was rewritten, so Postfix names the original too.
smtp_send "MAIL FROM:<bounces+c18.multi@mail.facteur.test>" \
    "RCPT TO:<missing@fail.example>" "RCPT TO:<old-address@fail.example>" << EOF
From: Facteur News <news@facteur.test>
To: undisclosed-recipients:;
Subject: Two recipients
Date: $date_header
Message-ID: <c18.multi.1@facteur.test>

Two recipients, both unknown.
EOF

# 4. A mailbox that is full: Postfix keeps retrying and sends a delay warning.
smtp_send "MAIL FROM:<bounces+c19.s7@mail.facteur.test>" "RCPT TO:<full@delay.example>" << EOF
From: Facteur News <news@facteur.test>
To: full@delay.example
Subject: Still trying
Date: $date_header
Message-ID: <c19.s7.1@facteur.test>

This one is delayed.
EOF

# 5. An internationalized (SMTPUTF8) message: the report is message/global-delivery-status.
smtp_send "MAIL FROM:<bounces+c20.s1@mail.facteur.test> SMTPUTF8" "RCPT TO:<jürgen@fail.example>" << EOF
From: Facteur News <news@facteur.test>
To: jürgen@fail.example
Subject: Grüße
Date: $date_header
Message-ID: <c20.s1.1@facteur.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Grüße aus Facteur.
EOF

# Waits until every expected report has arrived.
declare -A fixture_for=(
    [bounces+c17.s4242@mail.facteur.test]=postfix-failed-full.eml
    [bounces+c17.s4243@mail.facteur.test]=postfix-failed-headers-only.eml
    [bounces+c18.multi@mail.facteur.test]=postfix-failed-two-recipients.eml
    [bounces+c19.s7@mail.facteur.test]=postfix-delayed.eml
    [bounces+c20.s1@mail.facteur.test]=postfix-failed-smtputf8.eml
)
inbox="$work/mail/inbox/new"
for _ in $(seq 1 120); do
    count="$(find "$inbox" -type f 2> /dev/null | wc -l)"
    [ "$count" -ge "${#fixture_for[@]}" ] && break
    sleep 0.5
done

found=0
for file in "$inbox"/*; do
    [ -f "$file" ] || continue
    to="$(sed -n 's/^Delivered-To: //p' "$file" | head -n 1)"
    name="${fixture_for[$to]:-}"
    if [ -z "$name" ]; then
        echo "unexpected report for '$to' in $file" >&2
        continue
    fi
    # Maildir names and the instance's temporary paths never reach a fixture.
    sed -e "s#$work#/private-postfix#g" "$file" > "$out/$name"
    echo "wrote $out/$name"
    found=$((found + 1))
done

if [ "$found" -ne "${#fixture_for[@]}" ]; then
    echo "only $found of ${#fixture_for[@]} reports arrived" >&2
    exit 1
fi

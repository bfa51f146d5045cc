#!/usr/bin/env python3
"""Test SMTP server for the SMTP package's integration tests.

Install what the tests use:
    pip install aiosmtpd                      # this server (add --break-system-packages on Debian's python as root)
    apt-get install -y openssl postfix        # openssl for test certificates, postfix for /usr/sbin/smtp-sink
                                              # (stop the postfix daemon the install may start: postfix stop)

Binds 127.0.0.1 on a free port and writes that port to --port-file once listening. Every accepted
message is stored raw (exactly the bytes after dot-unstuffing) as N.eml, with its envelope in N.json.
Connections are counted in connections.txt. Recipients whose local part starts with one of these
inject faults:
    soft-...   RCPT gets 450 4.2.0      hard-...  RCPT gets 550 5.1.1 (each listed in refused.txt)
    drop-...   the connection is dropped after the body, without a reply
    bye-...    RCPT gets 421 and the connection is closed
With --chaos P (and --seed), any RCPT also gets 451 4.3.0 or 421 (closing the connection) with
probability P, and any DATA is dropped without a reply (and not stored) with probability P/2.
"""

import argparse
import asyncio
import json
import os
import random
import ssl

from aiosmtpd.smtp import SMTP, AuthResult


class Recorder:
    def __init__(self, directory, chaos=0.0, seed=None):
        self.directory = directory
        self.count = 0
        self.chaos = chaos
        self.random = random.Random(seed)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if self.chaos and self.random.random() < self.chaos:
            if self.random.random() < 0.5:
                return "451 4.3.0 Temporary failure, try again"
            session.bye = True
            return "421 4.3.2 Too busy, closing"
        if local.startswith("soft-"):
            return "450 4.2.0 Mailbox busy, try later"
        if local.startswith("hard-"):
            with open(os.path.join(self.directory, "refused.txt"), "a") as f:
                f.write(address + "\n")
            return "550 5.1.1 No such user"
        if local.startswith("bye-"):
            session.bye = True
            return "421 4.3.2 Service shutting down"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        dropped = self.chaos and self.random.random() < self.chaos / 2
        if dropped or any(r.split("@")[0].startswith("drop-") for r in envelope.rcpt_tos):
            server.transport.close()
            return "451 dropped"
        self.count += 1
        base = os.path.join(self.directory, str(self.count))
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        with open(base + ".json", "w") as f:
            json.dump({"from": envelope.mail_from, "to": envelope.rcpt_tos, "mail_options": envelope.mail_options}, f)
        os.rename(base + ".eml.tmp", base + ".eml")
        return "250 OK"


class CountingSMTP(SMTP):
    connections = 0
    directory = "."

    def connection_made(self, transport):
        CountingSMTP.connections += 1
        with open(os.path.join(CountingSMTP.directory, "connections.txt"), "w") as f:
            f.write(str(CountingSMTP.connections))
        super().connection_made(transport)

    async def push(self, status):
        await super().push(status)
        text = status.decode(errors="replace") if isinstance(status, bytes) else status
        if text.startswith("421") and getattr(self.session, "bye", False):
            self.transport.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--mail-dir", required=True)
    parser.add_argument("--mode", choices=["plain", "starttls", "implicit"], default="plain")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--auth", help="user:password required before MAIL")
    parser.add_argument("--exclude-plain", action="store_true", help="offer AUTH LOGIN only")
    parser.add_argument("--smtputf8", action="store_true")
    parser.add_argument("--size", type=int, default=33554432)
    parser.add_argument("--idle-timeout", type=float, default=300, help="server closes idle sessions with 421")
    parser.add_argument("--chaos", type=float, default=0.0, help="probability of a random 451/421 at RCPT, half that of a dropped DATA")
    parser.add_argument("--seed", type=int, help="makes --chaos repeatable")
    args = parser.parse_args()

    context = None
    if args.mode != "plain":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        user, password = args.auth.split(":", 1)
        ok = auth_data.login.decode() == user and auth_data.password.decode() == password
        return AuthResult(success=ok, handled=False)

    CountingSMTP.directory = args.mail_dir
    handler = Recorder(args.mail_dir, chaos=args.chaos, seed=args.seed)
    kwargs = dict(
        data_size_limit=args.size,
        enable_SMTPUTF8=args.smtputf8,
        hostname="test.invalid",
        timeout=args.idle_timeout,
        auth_exclude_mechanism=["PLAIN"] if args.exclude_plain else None,
    )
    if args.auth:
        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=args.mode == "starttls")
    if args.mode == "starttls":
        kwargs.update(tls_context=context, require_starttls=True)

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(
            lambda: CountingSMTP(handler, loop=loop, **kwargs),
            host="127.0.0.1",
            port=0,
            ssl=context if args.mode == "implicit" else None,
        )
    )
    port = server.sockets[0].getsockname()[1]
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(args.port_file + ".tmp", args.port_file)
    # Exit with the test process that started us, even when it crashed and never stopped us.
    parent = os.getppid()

    async def watch_parent():
        while os.getppid() == parent:
            await asyncio.sleep(1)
        loop.stop()

    loop.create_task(watch_parent())
    loop.run_forever()


if __name__ == "__main__":
    main()

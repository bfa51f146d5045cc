#!/usr/bin/env python3
"""Writes a deterministic subscriber CSV for bench/import.sh.

Usage: gen_subscribers.py N OUT

Columns: email, name, age (number), vip (boolean), signup_date (date), plan (text),
country (text). Every row is valid and every address is distinct case-insensitively, so
`facteur import` and `psql \\copy` load exactly the same N rows. The file exercises the CSV
reader a little: some addresses have upper-case letters, some names are non-ASCII, and a
few names are quoted because they hold a comma or a double quote.
"""

import random
import sys

SEED = 20240517
BATCH = 20_000

FIRST = [
    "Alice", "Bob", "Chloé", "David", "Élodie", "François", "Gaëlle", "Hugo", "Inès", "Jules",
    "Léa", "Zoë", "Noël", "Søren", "Mårten", "Jürgen", "Ana", "José", "María", "Łukasz",
    "Nguyễn", "Aiko", "Olga", "Priya", "Rémi", "Sven", "Tomás", "Ursula", "Wei", "Yusuf",
]
LAST = [
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Müller", "García", "Øster", "Ångström", "Kowalski", "Smith", "Brontë", "Núñez",
    "Lefèvre", "Nakamura", "Okafor", "Rossi", "Schmidt", "Van Dijk", "Yılmaz",
]
PLANS = ["free", "pro", "team"]
COUNTRIES = ["FR", "DE", "US", "GB", "ES", "IT", "NL", "BE", "CH", "CA", "JP", "BR", "PL", "SE", "IN"]


def name_cell(rng: random.Random, i: int) -> str:
    first = FIRST[rng.randrange(len(FIRST))]
    last = LAST[rng.randrange(len(LAST))]
    kind = i % 50
    if kind == 7:  # "Last, First": a comma inside a quoted field
        return '"' + last + ", " + first + '"'
    if kind == 23:  # an embedded double quote, doubled inside a quoted field
        return '"' + first + ' ""' + last[:3] + '"" ' + last + '"'
    if kind == 41:  # no name at all
        return ""
    return first + " " + last


def email_cell(i: int) -> str:
    # Distinct by construction (i is unique); about one in five has upper-case letters.
    kind = i % 10
    if kind == 3:
        return "User" + str(i) + "@Example" + str(i % 97) + ".com"
    if kind == 8:
        return "USER" + str(i) + "@EXAMPLE" + str(i % 97) + ".COM"
    return "user" + str(i) + "@example" + str(i % 97) + ".com"


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: gen_subscribers.py N OUT", file=sys.stderr)
        return 2
    try:
        count = int(sys.argv[1])
    except ValueError:
        count = -1
    if count < 0:
        print("N must be a whole number >= 0", file=sys.stderr)
        return 2
    rng = random.Random(SEED)
    randrange = rng.randrange
    # Dates from 2015-01-01 onwards, built from (year, month, day) with day <= 28: always valid.
    with open(sys.argv[2], "w", encoding="utf-8", newline="", buffering=1 << 20) as out:
        out.write("email,name,age,vip,signup_date,plan,country\n")
        lines = []
        for i in range(1, count + 1):
            lines.append(
                email_cell(i) + ","
                + name_cell(rng, i) + ","
                + str(18 + randrange(73)) + ","
                + ("true" if randrange(10) == 0 else "false") + ","
                + "%04d-%02d-%02d" % (2015 + randrange(11), 1 + randrange(12), 1 + randrange(28)) + ","
                + PLANS[randrange(3)] + ","
                + COUNTRIES[randrange(len(COUNTRIES))]
            )
            if len(lines) == BATCH:
                out.write("\n".join(lines))
                out.write("\n")
                lines.clear()
        if lines:
            out.write("\n".join(lines))
            out.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

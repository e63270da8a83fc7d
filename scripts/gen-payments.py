#!/usr/bin/env python3
"""Writes a legacy payments CSV for benchmarks with a seeded generator of its
own: 8 columns, about 70 bytes a row, a free-text note in about 45% of rows,
some of them quoted with commas, quotes and line breaks. `created` is spread
over --years years from 2015-01-01, in random order, or ascending with
--sorted (an export ordered by time, as `scripts/bench.sh --peers` uses)."""
import argparse
import csv
import random
from datetime import datetime, timedelta

WORDS = ("refund requested by customer card declined retry invoice march "
         "april bonus gift voucher Zürich café naïve résumé paid late").split()
STATUSES = ["completed"] * 6 + ["refunded", "failed", "pending"]
CURRENCIES = ["EUR", "EUR", "EUR", "USD", "GBP", "CHF"]
COUNTRIES = ["DE", "FR", "AT", "CH", "US", "GB", "ES", "IT", "NL"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", required=True)
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--sorted", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    start = datetime(2015, 1, 1)
    span = int(timedelta(days=args.years * 365).total_seconds())
    # Drawn up front only when sorted, so the default output stays as it was.
    offsets = sorted(rng.randrange(span) for _ in range(args.rows)) if args.sorted else None
    with open(args.out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(["payment_id", "user_id", "status", "amount", "currency", "country", "created", "note"])
        for i in range(args.rows):
            note = ""
            r = rng.random()
            if r < 0.45:
                note = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))
                if r < 0.05:
                    note += ", see ticket"
                elif r < 0.08:
                    note = 'customer said "' + note + '"\nsecond line'
            offset = offsets[i] if offsets is not None else rng.randrange(span)
            created = start + timedelta(seconds=offset)
            w.writerow([
                f"P-{i:08d}",
                rng.randrange(1, 500_000),
                rng.choice(STATUSES),
                f"{rng.randrange(1, 100_000) / 100:.2f}",
                rng.choice(CURRENCIES),
                rng.choice(COUNTRIES),
                created.strftime("%Y-%m-%d %H:%M:%S"),
                note,
            ])


if __name__ == "__main__":
    main()

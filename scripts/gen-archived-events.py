#!/usr/bin/env python3
"""Writes canonical events (JSON lines) for the archive-boundary bench: a
seeded generator of its own, random v4-style ids, received_at spread over
2010-2019 in received_at order (as a live store receives them), small
payment-like payloads. Usage: gen-archived-events.py --events N [--out F]"""
import argparse
import random
import sys
from datetime import datetime, timezone

TYPES = ["payment-completed", "payment-refunded", "user-registered"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default="-")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    start = int(datetime(2010, 1, 1, tzinfo=timezone.utc).timestamp() * 1000)
    end = int(datetime(2020, 1, 1, tzinfo=timezone.utc).timestamp() * 1000)
    step = (end - start) / max(args.events, 1)
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")
    fmt = lambda ms: datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    lines = []
    for i in range(args.events):
        h = f"{rng.getrandbits(128):032x}"
        uid = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"
        received = start + int(i * step)
        created = received - rng.randrange(1000, 60000)
        lines.append(
            f'{{"id":"{uid}","meta":{{"service":"bench","type":"{TYPES[i % 3]}",'
            f'"created_at":"{fmt(created)}","received_at":"{fmt(received)}","aggregate_id":"payment/{i}"}},'
            f'"payload":{{"amount":"{rng.randrange(100, 99999) / 100:.2f}/EUR","n":{i}}}}}\n'
        )
        if len(lines) == 10000:
            out.write("".join(lines))
            lines.clear()
    out.write("".join(lines))
    out.flush()


if __name__ == "__main__":
    main()

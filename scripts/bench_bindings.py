#!/usr/bin/env python3
"""Client-side cost of the Python binding: schedules per second through minoots.Client
(sequential) and minoots.AsyncClient (N concurrent callers), against a running server.

    python scripts/bench_bindings.py --url http://127.0.0.1:7070 --timers 20000 --concurrency 32

Prints one JSON line per measurement. Start the server with a release build
(`minoots serve --dev`); the numbers in docs/benchmarks.md came from this script.
"""

import argparse
import asyncio
import json
import time

import minoots


def sync_sequential(url, n):
    client = minoots.Client(url, api_key="local-dev-key", tenant="bench-sync")
    start = time.perf_counter()
    for i in range(n):
        client.schedule(f"s{i}", "1h")
    took = time.perf_counter() - start
    return {"bench": "python-sync-sequential", "timers": n, "seconds": round(took, 3), "per_second": round(n / took)}


async def async_concurrent(url, n, concurrency):
    client = await minoots.AsyncClient.connect(url, api_key="local-dev-key", tenant="bench-async")
    per_worker = n // concurrency

    async def worker(w):
        for i in range(per_worker):
            await client.schedule(f"a{w}-{i}", "1h")

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    took = time.perf_counter() - start
    total = per_worker * concurrency
    return {"bench": "python-async-concurrent", "concurrency": concurrency, "timers": total,
            "seconds": round(took, 3), "per_second": round(total / took)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:7070")
    parser.add_argument("--timers", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    print(json.dumps(sync_sequential(args.url, args.timers // 4)))
    print(json.dumps(asyncio.run(async_concurrent(args.url, args.timers, args.concurrency))))


if __name__ == "__main__":
    main()

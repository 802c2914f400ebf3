#!/usr/bin/env python3
"""Scheduling throughput as clients other than the Rust SDK see it: Python grpcio (message
classes read from the server's gRPC reflection, no generated code) and REST over HTTP/1.1
keep-alive connections. Every timer has a webhook action and is due in an hour, so nothing fires
while the bench runs. Start a release server first, in its own process:

    minoots serve --dev --listen 127.0.0.1:7311 --quota-active-timers 0 --quota-daily-timers 0 \\
        --data-dir "$(mktemp -d)" &
    python -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install grpcio grpcio-reflection
    /tmp/bench-venv/bin/python scripts/bench_clients.py --url http://127.0.0.1:7311

Prints one JSON line per measurement: batches of 1,000 through ScheduleTimers called one after
another (full and compact answers), unary ScheduleTimer calls one after another (call latency)
and 64 in flight (grpcio's futures and grpc.aio), and REST `POST /timers` 64 in flight.
"""

import argparse
import asyncio
import json
import statistics
import threading
import time
from urllib.parse import urlparse

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

SERVICE = "minoots.v1.TimerService"


class Messages:
    """The request and response classes of TimerService, from the server's reflection."""

    def __init__(self, target):
        with grpc.insecure_channel(target) as channel:
            pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
            service = pool.FindServiceByName(SERVICE)
            self.methods = {}
            for name in ("ScheduleTimer", "ScheduleTimers"):
                method = service.FindMethodByName(name)
                self.methods[name] = (
                    message_factory.GetMessageClass(method.input_type),
                    message_factory.GetMessageClass(method.output_type),
                )
        self.one, _ = self.methods["ScheduleTimer"]
        self.batch, _ = self.methods["ScheduleTimers"]

    def timer(self, name, webhook):
        request = self.one(name=name)
        request.duration.seconds = 3600
        request.action_bundle.actions.add().webhook.url = webhook
        return request

    def callable(self, channel, name):
        request, response = self.methods[name]
        return channel.unary_unary(
            f"/{SERVICE}/{name}",
            request_serializer=request.SerializeToString,
            response_deserializer=response.FromString,
        )


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def ms(seconds):
    return round(seconds * 1000, 2)


def grpc_batches(target, metadata, messages, webhook, timers, compact):
    with grpc.insecure_channel(target) as channel:
        call = messages.callable(channel, "ScheduleTimers")
        calls = []
        start = time.perf_counter()
        for b in range(timers // 1000):
            request = messages.batch()
            if compact:
                request.compact = True
            for i in range(1000):
                request.timers.append(messages.timer(f"b{b}-{i}", webhook))
            began = time.perf_counter()
            response = call(request, metadata=metadata)
            calls.append(time.perf_counter() - began)
            assert len(response.results) == 1000, len(response.results)
        took = time.perf_counter() - start
    return {
        "bench": "grpcio ScheduleTimers, sequential batches of 1,000"
        + (", compact answer" if compact else ""),
        "timers": timers,
        "per_second": round(timers / took),
        "call_p50_ms": ms(statistics.median(calls)),
        "call_p99_ms": ms(percentile(calls, 0.99)),
    }


def grpc_sequential(target, metadata, messages, webhook, calls):
    with grpc.insecure_channel(target) as channel:
        call = messages.callable(channel, "ScheduleTimer")
        for i in range(200):  # warm up the connection
            call(messages.timer(f"w{i}", webhook), metadata=metadata)
        took = []
        for i in range(calls):
            request = messages.timer(f"s{i}", webhook)
            began = time.perf_counter()
            call(request, metadata=metadata)
            took.append(time.perf_counter() - began)
    return {
        "bench": "grpcio ScheduleTimer, sequential",
        "calls": calls,
        "p50_ms": ms(statistics.median(took)),
        "p90_ms": ms(percentile(took, 0.90)),
        "p99_ms": ms(percentile(took, 0.99)),
        "max_ms": ms(max(took)),
    }


async def in_flight(bench, callers, per_caller, caller):
    """Runs `callers` copies of `caller(c, took)` at once; each makes `per_caller` calls one after
    another and appends each call's duration to `took`."""
    took = []
    start = time.perf_counter()
    await asyncio.gather(*(caller(c, took) for c in range(callers)))
    elapsed = time.perf_counter() - start
    return {
        "bench": bench,
        "timers": per_caller * callers,
        "per_second": round(per_caller * callers / elapsed),
        "call_p50_ms": ms(statistics.median(took)),
        "call_p99_ms": ms(percentile(took, 0.99)),
    }


def grpc_futures(target, metadata, messages, webhook, timers, callers):
    """The synchronous grpcio stack's futures, `callers` outstanding at any time."""
    with grpc.insecure_channel(target) as channel:
        call = messages.callable(channel, "ScheduleTimer")
        slots = threading.Semaphore(callers)
        took, failed = [], []

        def finished(future, began):
            took.append(time.perf_counter() - began)
            if future.exception() is not None:
                failed.append(future.exception())
            slots.release()

        start = time.perf_counter()
        for i in range(timers):
            request = messages.timer(f"f{i}", webhook)
            slots.acquire()
            began = time.perf_counter()
            call.future(request, metadata=metadata).add_done_callback(
                lambda future, began=began: finished(future, began)
            )
        for _ in range(callers):
            slots.acquire()
        elapsed = time.perf_counter() - start
    if failed:
        raise RuntimeError(f"{len(failed)} calls failed, the first: {failed[0]}")
    return {
        "bench": f"grpcio ScheduleTimer futures, {callers} in flight",
        "timers": timers,
        "per_second": round(timers / elapsed),
        "call_p50_ms": ms(statistics.median(took)),
        "call_p99_ms": ms(percentile(took, 0.99)),
    }


async def grpc_in_flight(target, metadata, messages, webhook, timers, callers):
    async with grpc.aio.insecure_channel(target) as channel:
        call = messages.callable(channel, "ScheduleTimer")
        per_caller = timers // callers

        async def caller(c, took):
            for i in range(per_caller):
                request = messages.timer(f"u{c}-{i}", webhook)
                began = time.perf_counter()
                await call(request, metadata=metadata)
                took.append(time.perf_counter() - began)

        bench = f"grpcio (grpc.aio) ScheduleTimer, {callers} in flight"
        return await in_flight(bench, callers, per_caller, caller)


async def rest_in_flight(url, api_key, webhook, timers, callers):
    """POST /timers over `callers` keep-alive HTTP/1.1 connections, one request at a time each."""
    parsed = urlparse(url)
    per_caller = timers // callers

    async def caller(c, took):
        reader, writer = await asyncio.open_connection(parsed.hostname, parsed.port)
        try:
            for i in range(per_caller):
                body = json.dumps(
                    {
                        "name": f"r{c}-{i}",
                        "duration": "1h",
                        "actionBundle": {"actions": [{"type": "webhook", "url": webhook}]},
                    }
                ).encode()
                head = (
                    f"POST /timers HTTP/1.1\r\nHost: {parsed.netloc}\r\n"
                    f"x-api-key: {api_key}\r\ncontent-type: application/json\r\n"
                    f"content-length: {len(body)}\r\n\r\n"
                ).encode()
                began = time.perf_counter()
                writer.write(head + body)
                status = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                took.append(time.perf_counter() - began)
                if b" 201 " not in status:
                    raise RuntimeError(f"POST /timers answered {status!r}")
        finally:
            writer.close()

    return await in_flight(f"REST POST /timers, {callers} in flight", callers, per_caller, caller)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:7311")
    parser.add_argument("--api-key", default="local-dev-key")
    parser.add_argument("--webhook", default="https://example.com/hook")
    parser.add_argument("--batched", type=int, default=100_000, help="timers sent in batches")
    parser.add_argument("--unary", type=int, default=20_000, help="timers sent in unary calls")
    parser.add_argument("--sequential", type=int, default=2_000, help="sequential unary calls")
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument(
        "--only",
        choices=["batch", "compact", "sequential", "futures", "unary", "rest"],
        action="append",
    )
    args = parser.parse_args()
    target = urlparse(args.url).netloc
    metadata = (("x-api-key", args.api_key),)
    messages = Messages(target)
    only = set(args.only or ["batch", "compact", "sequential", "futures", "unary", "rest"])
    hook = args.webhook
    if "batch" in only:
        print(json.dumps(grpc_batches(target, metadata, messages, hook, args.batched, False)))
    if "compact" in only:
        print(json.dumps(grpc_batches(target, metadata, messages, hook, args.batched, True)))
    if "sequential" in only:
        print(json.dumps(grpc_sequential(target, metadata, messages, hook, args.sequential)))
    if "futures" in only:
        run = grpc_futures(target, metadata, messages, hook, args.unary, args.in_flight)
        print(json.dumps(run))
    if "unary" in only:
        run = grpc_in_flight(target, metadata, messages, hook, args.unary, args.in_flight)
        print(json.dumps(asyncio.run(run)))
    if "rest" in only:
        run = rest_in_flight(args.url, args.api_key, hook, args.unary, args.in_flight)
        print(json.dumps(asyncio.run(run)))


if __name__ == "__main__":
    main()

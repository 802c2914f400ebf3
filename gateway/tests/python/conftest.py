"""Starts the real `minoots` binary (MINOOTS_BIN) and real HTTP servers on 127.0.0.1:0."""

import json
import os
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

DEV_KEY = "local-dev-key"


class Minoots:
    def __init__(self, proc, url, context=None):
        self.proc = proc
        self.url = url
        # For https: trusts the CA the server's certificate comes from.
        self.context = context

    def request(self, method, path, body=None, tenant=None):
        data = None if body is None else json.dumps(body).encode()
        headers = {"x-api-key": DEV_KEY, "content-type": "application/json"}
        if tenant:
            headers["x-tenant-id"] = tenant
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=30, context=self.context) as response:
            return json.loads(response.read())

    def wait_finished(self, timer_id, timeout=60, tenant=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            timer = self.request("GET", f"/timers/{timer_id}", tenant=tenant)
            if timer["status"] in ("settled", "failed"):
                return timer
            time.sleep(0.05)
        raise AssertionError(f"timer {timer_id} did not finish within {timeout}s")


@pytest.fixture
def start_minoots(tmp_path):
    started = []

    def start(*args, cafile=None):
        """`minoots serve --dev` with `args`; `cafile` is the CA to trust when it serves https."""
        binary = os.environ.get("MINOOTS_BIN", "target/debug/minoots")
        proc = subprocess.Popen(
            [binary, "serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "data"), *args],
            stdout=subprocess.PIPE,
            text=True,
            # The test command sets NATS_URL for the tests; the server would read it (the original
            # deployment guide's name) and publish.
            env={k: v for k, v in os.environ.items() if k not in ("NATS_URL", "NATS_JETSTREAM_URL")},
        )
        started.append(proc)
        line = proc.stdout.readline()
        assert line.startswith("minoots listening on "), line
        url = line.removeprefix("minoots listening on ").strip()
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        context = ssl.create_default_context(cafile=cafile) if cafile else None
        server = Minoots(proc, url, context)
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/readyz", timeout=5, context=context)
                return server
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


class Receiver:
    """An HTTP server that records every POST and answers 200."""

    def __init__(self):
        self.hits = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                with receiver.arrived:
                    receiver.hits.append((dict(self.headers.items()), body))
                    receiver.arrived.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count, timeout=60):
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.hits) >= count, timeout), "no delivery"
        return self.hits


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


def free_socket():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock

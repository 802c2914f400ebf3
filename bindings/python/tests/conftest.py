"""Starts the real `minoots serve --dev` (MINOOTS_BIN) on 127.0.0.1:0 (webhooks to 127.0.0.1
allowed), a webhook receiver answering with a status the test sets and, for resume tests, a TCP
proxy in front of the server that can cut every connection."""

import http.server
import os
import socket
import subprocess
import threading
import time

import pytest

import minoots

DEV_KEY = "local-dev-key"


class Proxy:
    """Forwards 127.0.0.1:<port> to the server; `cut()` drops open connections and refuses new
    ones until `restore()`."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.open = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                inbound, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                inbound.close()
                continue
            outbound = socket.create_connection(self.upstream)
            with self.lock:
                self.open += [inbound, outbound]
            for a, b in ((inbound, outbound), (outbound, inbound)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self):
        self.up = False
        with self.lock:
            for s in self.open:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.open.clear()

    def restore(self):
        self.up = True

    def close(self):
        self.cut()
        self.listener.close()


@pytest.fixture
def server(tmp_path):
    binary = os.environ.get("MINOOTS_BIN", "target/debug/minoots")
    proc = subprocess.Popen(
        [
            binary,
            "serve",
            "--dev",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            str(tmp_path / "data"),
            "--webhook-allow",
            "127.0.0.1",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    assert line.startswith("minoots listening on "), line
    url = line.removeprefix("minoots listening on ").strip()
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    # Ready when the SDK connects and answers (a health check through the client itself).
    deadline = time.monotonic() + 60
    while True:
        try:
            minoots.Client(url, api_key=DEV_KEY).list(limit=1)
            break
        except minoots.MinootsError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield url
    proc.kill()
    proc.wait()


@pytest.fixture
def proxy(server):
    host, port = server.removeprefix("http://").rsplit(":", 1)
    p = Proxy((host, int(port)))
    yield p
    p.close()


class Receiver:
    """A webhook receiver on 127.0.0.1:0 answering every POST with `status`; counts `hits`."""

    def __init__(self):
        receiver = self
        self.status = 500
        self.hits = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.hits += 1
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()

"""The binding against `minoots serve` on https: a CA and server certificate made at test time with
the openssl commands of docs/security.md, trusted through `ca_certificate`; sync and asyncio
clients schedule and stream over TLS; a client that does not trust the CA gets a TransportError."""

import asyncio
import os
import shutil
import subprocess
import threading
import time

import pytest

import minoots
from conftest import DEV_KEY


def make_certificates(directory):
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed to make the test CA (Debian package openssl)")

    def run(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    run(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-days", "365", "-subj", "/CN=minoots dev CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", "ca.key", "-out", "ca.pem",
    )
    run(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr",
    )
    (directory / "server.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
    )
    run(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "365", "-extfile", "server.ext", "-out", "server.pem",
    )
    return (directory / "ca.pem").read_bytes(), directory / "server.pem", directory / "server.key"


@pytest.fixture
def tls_server(tmp_path):
    """(url, CA certificate) of `minoots serve --dev` on https, once a client trusting the CA
    gets answers."""
    ca, cert, key = make_certificates(tmp_path)
    binary = os.environ.get("MINOOTS_BIN", "target/debug/minoots")
    proc = subprocess.Popen(
        [binary, "serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "data"),
         "--tls-cert", str(cert), "--tls-key", str(key)],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    assert line.startswith("minoots listening on https://"), line
    url = line.removeprefix("minoots listening on ").strip()
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    deadline = time.monotonic() + 60
    while True:
        try:
            minoots.Client(url, api_key=DEV_KEY, ca_certificate=ca).list(limit=1)
            break
        except minoots.MinootsError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield url, ca
    proc.kill()
    proc.wait()


def test_sync_client_over_https_schedules_and_streams(tls_server):
    url, ca = tls_server
    client = minoots.Client(url, api_key=DEV_KEY, tenant="acme", ca_certificate=ca)
    stream = client.stream(after_sequence=0, event_types=["timer.settled"])
    timer = client.schedule("over-tls", "20ms")
    for event in stream:
        if event.timer_id == timer.id:
            break
    stream.close()
    assert client.get(timer.id).status == "settled"

    with pytest.raises(minoots.TransportError):
        minoots.Client(url, api_key=DEV_KEY, connect_timeout=5)


def test_asyncio_client_over_https(tls_server):
    url, ca = tls_server

    async def main():
        client = await minoots.AsyncClient.connect(url, api_key=DEV_KEY, tenant="acme", ca_certificate=ca)
        timer = await client.schedule("async-over-tls", "20ms")
        done = await client.wait_for(timer.id, until="done", timeout=60)
        assert done.status == "settled"

    asyncio.run(main())

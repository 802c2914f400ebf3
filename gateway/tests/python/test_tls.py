"""TLS on the one port as a gRPC tool sees it: a CA and server certificate made with the openssl
commands docs/security.md shows, then grpcio's secure channel trusting that CA lists
`minoots.v1.TimerService` through reflection and schedules a timer with messages built from the
reflected descriptors, as grpcurl does (grpcurl itself cannot be installed on the test machine;
this stands in for it). REST over https follows the timer until it settles."""

import shutil
import subprocess

import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from conftest import DEV_KEY


def make_certificates(directory):
    """The CA and the server certificate for 127.0.0.1 and localhost, as in docs/security.md."""
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
    return directory / "ca.pem", directory / "server.pem", directory / "server.key"


def test_grpcio_over_tls_reflects_and_schedules(start_minoots, tmp_path):
    certs = tmp_path / "certs"
    certs.mkdir()
    ca, cert, key = make_certificates(certs)
    server = start_minoots("--tls-cert", str(cert), "--tls-key", str(key), cafile=str(ca))
    assert server.url.startswith("https://127.0.0.1:"), server.url

    credentials = grpc.ssl_channel_credentials(root_certificates=ca.read_bytes())
    with grpc.secure_channel(server.url.removeprefix("https://"), credentials) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = database.get_services()
        assert "minoots.v1.TimerService" in services, services

        pool = descriptor_pool.DescriptorPool(database)
        method = pool.FindServiceByName("minoots.v1.TimerService").methods_by_name["ScheduleTimer"]
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        schedule = channel.unary_unary(
            "/minoots.v1.TimerService/ScheduleTimer",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        request = request_class(name="grpcio-over-tls")
        request.duration.nanos = 50_000_000
        response = schedule(
            request, metadata=[("x-api-key", DEV_KEY)], timeout=30
        )
        assert response.created
        assert response.timer.name == "grpcio-over-tls"

    # The same timer over REST on the same https port, until it settles.
    timer = server.wait_finished(response.timer.id)
    assert timer["status"] == "settled", timer

    # A client that does not trust the CA is refused.
    untrusted = grpc.ssl_channel_credentials()
    with grpc.secure_channel(server.url.removeprefix("https://"), untrusted) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            ProtoReflectionDescriptorDatabase(channel).get_services()
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

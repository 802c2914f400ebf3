"""gRPC reflection as Python's grpcio-reflection client reads it (v1alpha), next to v1."""

import grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)


def test_grpcio_reflection_lists_and_describes_the_timer_service(start_minoots):
    server = start_minoots()
    with grpc.insecure_channel(server.url.removeprefix("http://")) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = database.get_services()
        assert "minoots.v1.TimerService" in services, services
        assert "grpc.health.v1.Health" in services, services
        file = database.FindFileContainingSymbol("minoots.v1.TimerService")
        assert file.package == "minoots.v1"
        assert "TimerService" in [s.name for s in file.service]

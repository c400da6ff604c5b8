"""Shared fixtures. No test may touch the network: sockets are guarded for the whole session."""
import os
import socket

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

DATA_DIR = os.path.join(os.path.dirname(__file__), "data")


class NetworkAccessError(RuntimeError):
    pass


def _refuse(*args, **kwargs):
    raise NetworkAccessError("tests must not open network connections")


@pytest.fixture(autouse=True, scope="session")
def _no_network():
    """Fail any test that tries to connect anywhere (AF_UNIX socketpairs stay allowed)."""
    original_connect = socket.socket.connect
    original_create = socket.create_connection

    def guarded_connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _refuse()
        return original_connect(self, address)

    socket.socket.connect = guarded_connect
    socket.create_connection = _refuse
    yield
    socket.socket.connect = original_connect
    socket.create_connection = original_create


@pytest.fixture
def data_dir():
    return DATA_DIR

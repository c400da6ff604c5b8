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


@pytest.fixture(scope="module")
def one_torch_thread():
    """The test models are tiny: on a busy machine a second OpenMP thread only adds spin-waiting.

    Use per module: ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_trained_checkpoint(tmp_path_factory):
    """One trained-looking test-tiny checkpoint folder, with a calibration, shared by the suite.

    Read it, load it, copy it to tamper with it: never write into it.
    """
    from helpers import trained_tiny

    from i2imetric.models.outputs import Calibration

    metric = trained_tiny()
    metric.calibration = Calibration(slope=0.5, intercept=0.1)
    return metric.save_pretrained(tmp_path_factory.mktemp("shared") / "tiny-trained")

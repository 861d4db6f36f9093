"""``T2V_TRANSFORMER_WEIGHTS=fp8`` (docs/adr/0087): opt-in, and refused at start where it cannot run.

The quantisation itself needs FP8 tensor cores; its speed and frame difference are the GPU
benchmark's ``fp8 weights (torchao) vs bf16`` case. Here: the refusals, each with the message
an operator acts on, and a real worker that exits permanently before reading any weight.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from t2v_worker import protocol
from t2v_worker.engines.fp8 import check_fp8
from t2v_worker.errors import ModelLoadFailed, is_permanent
from worker_support import WorkerProcess


def _gpu(capability: tuple[int, int], name: str) -> SimpleNamespace:
    cuda = SimpleNamespace(get_device_capability=lambda _i: capability, get_device_name=lambda _i: name)
    return SimpleNamespace(cuda=cuda)


def test_refused_on_the_cpu() -> None:
    with pytest.raises(ModelLoadFailed, match="needs a CUDA GPU with FP8 tensor cores") as info:
        check_fp8("cpu", None)
    assert is_permanent(info.value) and "T2V_TRANSFORMER_WEIGHTS=bf16" in str(info.value)


def test_refused_on_a_gpu_without_fp8_tensor_cores() -> None:
    with pytest.raises(ModelLoadFailed, match=r"Tesla T4 has 7\.5") as info:
        check_fp8("cuda:0", _gpu((7, 5), "Tesla T4"))
    assert is_permanent(info.value)
    with pytest.raises(ModelLoadFailed, match=r"A100-SXM4-80GB has 8\.0"):
        check_fp8("cuda:0", _gpu((8, 0), "NVIDIA A100-SXM4-80GB"))


def test_refused_without_torchao(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchao", None)  # import fails as if not installed
    with pytest.raises(ModelLoadFailed, match="needs torchao, which is not installed: install torchao"):
        check_fp8("cuda:0", _gpu((9, 0), "NVIDIA H100 80GB HBM3"))


def test_off_by_default_and_not_with_loras() -> None:
    from t2v_worker.config import ConfigError, load_config

    assert load_config({}).transformer_weights == "bf16"
    with pytest.raises(ConfigError, match="T2V_LORAS cannot be combined with T2V_TRANSFORMER_WEIGHTS=fp8"):
        load_config({"T2V_TRANSFORMER_WEIGHTS": "fp8", "T2V_LORAS": "style=/l/style.safetensors"})


@pytest.mark.slow
def test_a_cpu_worker_asked_for_fp8_exits_permanently_with_the_message() -> None:
    worker = WorkerProcess({"T2V_ENGINE": "wan-tiny", "T2V_TRANSFORMER_WEIGHTS": "fp8"})
    event = worker.next_event(timeout=120)
    assert event["type"] == "error" and event["code"] == "MODEL_LOAD_FAILED"
    assert "T2V_TRANSFORMER_WEIGHTS=fp8 needs a CUDA GPU with FP8 tensor cores" in event["message"]
    assert worker.proc.wait(timeout=60) == protocol.EXIT_PERMANENT

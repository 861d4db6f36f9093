"""What a GPU worker checks about its machine, proven without one: the driver diagnosis, which
errors poison the CUDA context, the compile-thread bound, the compiler check, the device order."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from t2v_worker.device import (
    DriverInfo,
    cgroup_cpu_quota,
    compile_threads,
    cuda_unavailable,
    find_compiler,
    is_sticky_cuda_error,
    prepare_process_env,
    read_driver,
    require_compiler,
)
from t2v_worker.errors import ModelLoadFailed, is_permanent


def fake_torch(init_error: str | None, cuda: str = "13.0") -> Any:
    def init() -> None:
        if init_error is not None:
            raise RuntimeError(init_error)

    return SimpleNamespace(
        __version__="2.13.0+cu130", version=SimpleNamespace(cuda=cuda), cuda=SimpleNamespace(init=init)
    )


# ---- item: a driver too old for the CUDA build -------------------------------------------------


def test_a_driver_too_old_for_the_cuda_build_is_permanent_and_names_both_versions() -> None:
    torch = fake_torch(
        "The NVIDIA driver on your system is too old (found version 12040). Please update your GPU driver"
    )
    failure = cuda_unavailable(torch, {"CUDA_VISIBLE_DEVICES": "0"}, DriverInfo("550.54.15", (12, 4)))
    assert isinstance(failure, ModelLoadFailed) and is_permanent(failure)
    message = str(failure)
    assert "driver 550.54.15 (CUDA 12.4) is too old for torch 2.13.0+cu130" in message
    assert "built for CUDA 13.0 and needs driver 580 or newer" in message
    assert "found version 12040" in message


def test_an_old_driver_is_recognised_from_its_cuda_version_alone() -> None:
    """torch may only say that no device is usable; libcuda's version settles it."""
    failure = cuda_unavailable(fake_torch("No CUDA GPUs are available"), {}, DriverInfo(None, (12, 8)))
    assert is_permanent(failure) and "driver unknown (CUDA 12.8) is too old" in str(failure)


@pytest.mark.parametrize(
    ("error", "driver"),
    [
        ("Found no NVIDIA driver on your system", DriverInfo(None, None)),
        ("No CUDA GPUs are available", DriverInfo("580.65.06", (13, 0))),
    ],
)
def test_no_driver_or_no_device_may_heal_and_is_retried(error: str, driver: DriverInfo) -> None:
    failure = cuda_unavailable(fake_torch(error), {"CUDA_VISIBLE_DEVICES": ""}, driver)
    assert not is_permanent(failure)
    assert "no CUDA device is usable (CUDA_VISIBLE_DEVICES=;" in str(failure) and error in str(failure)


def test_the_driver_is_read_from_proc(tmp_path: Path) -> None:
    proc = tmp_path / "version"
    proc.write_text(
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build  (dvs-builder@U22)\n"
        "GCC version:  gcc version 12.2.0\n"
    )
    assert read_driver(str(proc)).version == "580.159.04"
    proc.write_text(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\n"
    )
    assert read_driver(str(proc)).version == "550.54.15"
    assert read_driver(str(tmp_path / "none")).version is None


# ---- item: errors after which the CUDA context is unusable -------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "CUDA error: an illegal memory access was encountered\nCUDA kernel errors might be asynchronously reported",
        "CUDA error: device-side assert triggered",
        "CUDA error: unspecified launch failure",
        "cuDNN error: CUDNN_STATUS_EXECUTION_FAILED",
        "CUDA error: CUBLAS_STATUS_EXECUTION_FAILED when calling `cublasGemmEx( handle, opa, opb, m, n, k, ...)`",
        "NCCL error in: ProcessGroupNCCL.cpp:3125, unhandled cuda error (run with NCCL_DEBUG=INFO for details)",
        "Triton Error [CUDA]: misaligned address",
    ],
)
def test_sticky_cuda_errors_are_recognised(message: str) -> None:
    assert is_sticky_cuda_error(RuntimeError(message))
    # Also when wrapped by the code that caught it.
    try:
        try:
            raise RuntimeError(message)
        except RuntimeError as inner:
            raise ValueError("decode failed") from inner
    except ValueError as outer:
        assert is_sticky_cuda_error(outer)


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB"),
        RuntimeError("Expected all tensors to be on the same device"),
        ValueError("num_frames 8 is not 4k+1"),
    ],
)
def test_other_errors_are_not_sticky(exc: Exception) -> None:
    assert not is_sticky_cuda_error(exc)


def test_an_nccl_backend_error_is_sticky_by_its_type() -> None:
    class DistBackendError(RuntimeError):
        pass

    assert is_sticky_cuda_error(DistBackendError("watchdog caught collective operation timeout"))


# ---- item: bounded compile threads, a compiler for compiled blocks -----------------------------


def test_compile_threads_follow_the_cpu_quota(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_quota(str(tmp_path)) == 1.5
    assert compile_threads(str(tmp_path)) == 2  # a quota of 1.5 CPUs: 2 threads
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(str(tmp_path)) is None
    assert 1 <= compile_threads(str(tmp_path)) <= 8
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("400000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(str(v1)) == 4.0


def test_the_process_env_sets_device_order_and_compile_threads_unless_given() -> None:
    env: dict[str, str] = {}
    prepare_process_env(env)
    assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert 1 <= int(env["TORCHINDUCTOR_COMPILE_THREADS"]) <= 8
    env = {"CUDA_DEVICE_ORDER": "FASTEST_FIRST", "TORCHINDUCTOR_COMPILE_THREADS": "3"}
    prepare_process_env(env)
    assert env == {"CUDA_DEVICE_ORDER": "FASTEST_FIRST", "TORCHINDUCTOR_COMPILE_THREADS": "3"}


def test_compiled_blocks_need_a_compiler(tmp_path: Path) -> None:
    gcc = tmp_path / "gcc"
    gcc.write_text("#!/bin/sh\n")
    gcc.chmod(0o755)
    assert find_compiler("cuda:0", {"PATH": str(tmp_path)}) == str(gcc)
    with pytest.raises(ModelLoadFailed) as err:
        require_compiler("cuda:0", {"PATH": str(tmp_path / "empty")})
    assert is_permanent(err.value)
    assert "T2V_COMPILE=blocks needs a C compiler for Triton (gcc" in str(err.value)
    with pytest.raises(ModelLoadFailed, match=r"a C\+\+ compiler for Inductor \(g\+\+"):
        require_compiler("cpu", {"PATH": str(tmp_path / "empty")})


def test_the_compiler_must_build_tritons_launcher(tmp_path: Path) -> None:
    """Triton compiles C that includes Python.h for every kernel's launcher: a compiler without
    the headers fails at load, naming them, not in the warm-up's first compile."""
    import shutil

    real = shutil.which("gcc") or shutil.which("cc")
    if real is None:
        pytest.skip("no C compiler on this machine")
    assert require_compiler("cuda:0", {"PATH": os.path.dirname(real), "CC": real}) == real
    broken = tmp_path / "gcc"
    broken.write_text(
        "#!/bin/sh\necho 'launcher.c:1:10: fatal error: Python.h: No such file or directory' >&2\nexit 1\n"
    )
    broken.chmod(0o755)
    with pytest.raises(ModelLoadFailed) as err:
        require_compiler("cuda:0", {"PATH": str(tmp_path)})
    assert is_permanent(err.value)
    assert f"{broken} cannot build Triton's kernel launcher (launcher.c:1:10: fatal error: Python.h" in str(
        err.value
    )
    assert "libc6-dev" in str(err.value)

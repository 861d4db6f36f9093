"""What a GPU worker needs to know about its machine before and while it uses CUDA.

- Process environment, before torch initialises CUDA: ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` (device
  numbers as ``nvidia-smi`` and DCGM count them) and a bound on Inductor's compile workers.
- Why CUDA is not usable: a driver too old for the CUDA build of torch is a permanent load
  failure that names both versions; no driver or no visible device may heal (retried).
- Which errors leave the CUDA context unusable ("sticky" errors): the worker must exit.
- The C compiler that Triton (GPU) or Inductor (CPU) needs for compiled blocks.

Nothing here imports torch at module level: the checks run before and around its import.
"""

from __future__ import annotations

import ctypes
import math
import os
import re
import shutil
import subprocess
import sysconfig
import tempfile
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from .errors import ModelLoadFailed

# Inductor starts one compile worker per CPU it sees (up to 32). In a container that sees every
# core of a large node but may use two, that is dozens of processes of a few hundred MB each
# during the warm-up. Unless set, the bound is the container's CPU quota, at most this.
MAX_COMPILE_THREADS = 8


def prepare_process_env(env: MutableMapping[str, str] | None = None) -> None:
    """Defaults a GPU worker sets for itself (a variable already set wins). Idempotent."""
    env = os.environ if env is None else env
    # CUDA numbers devices fastest first unless told otherwise; nvidia-smi, DCGM and the API's
    # T2V_DEVICES count by PCI bus id. Read when CUDA initialises.
    env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    if "TORCHINDUCTOR_COMPILE_THREADS" not in env:
        env["TORCHINDUCTOR_COMPILE_THREADS"] = str(compile_threads())


def compile_threads(cgroup_root: str = "/sys/fs/cgroup") -> int:
    """CPUs this process may use: its affinity, narrowed by the cgroup's CPU quota, capped."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, min(cpus, MAX_COMPILE_THREADS))


def cgroup_cpu_quota(root: str = "/sys/fs/cgroup") -> float | None:
    """CPUs the container's quota allows (cgroup v2 ``cpu.max``, else v1 ``cfs_quota_us``); None
    when there is no quota."""
    try:
        with open(os.path.join(root, "cpu.max"), encoding="ascii") as fh:
            quota, _, period = fh.read().strip().partition(" ")
        if quota != "max":
            return int(quota) / int(period or 100000)
        return None
    except (OSError, ValueError):
        pass
    try:
        with open(os.path.join(root, "cpu", "cpu.cfs_quota_us"), encoding="ascii") as fh:
            quota_us = int(fh.read().strip())
        with open(os.path.join(root, "cpu", "cpu.cfs_period_us"), encoding="ascii") as fh:
            period_us = int(fh.read().strip())
        return quota_us / period_us if quota_us > 0 else None
    except (OSError, ValueError):
        return None


# ---- the driver --------------------------------------------------------------------------------

# The oldest Linux driver each CUDA major release runs on (CUDA minor-version compatibility: a
# build for 13.x needs a 580 driver, one for 12.x a 525 driver).
MIN_DRIVER = {13: "580", 12: "525.60.13", 11: "450.80.02"}


@dataclass(frozen=True)
class DriverInfo:
    """The NVIDIA driver as the machine reports it, each part None when it cannot be read."""

    version: str | None  # the kernel module, e.g. "580.65.06"
    cuda: tuple[int, int] | None  # the newest CUDA it supports, e.g. (13, 0)

    def describe(self) -> str:
        cuda = f"CUDA {self.cuda[0]}.{self.cuda[1]}" if self.cuda else "CUDA version unknown"
        return f"driver {self.version or 'unknown'} ({cuda})"


def read_driver(proc_version: str = "/proc/driver/nvidia/version") -> DriverInfo:
    """The kernel module's version from ``/proc`` and the CUDA version libcuda reports. Neither
    initialises CUDA; both are absent without a driver."""
    version = None
    try:
        with open(proc_version, encoding="utf-8", errors="replace") as fh:
            match = re.search(r"Kernel Module\s+(?:for \S+\s+)?(\d+(?:\.\d+)+)", fh.read())
        version = match.group(1) if match else None
    except OSError:
        pass
    cuda = None
    try:
        libcuda = ctypes.CDLL("libcuda.so.1")
        value = ctypes.c_int(0)
        if libcuda.cuDriverGetVersion(ctypes.byref(value)) == 0 and value.value > 0:
            cuda = (value.value // 1000, (value.value % 1000) // 10)
    except (OSError, AttributeError):
        pass
    return DriverInfo(version=version, cuda=cuda)


def _major(version: str | None) -> int | None:
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return None


def cuda_unavailable(torch: Any, env: Mapping[str, str], driver: DriverInfo | None = None) -> ModelLoadFailed:
    """Why ``T2V_WORKER_DEVICE=cuda`` cannot start, as the load failure to raise.

    A driver older than the CUDA build of torch needs is permanent (a restart finds the same
    driver); the message names both. Anything else (no driver loaded yet, no device handed to
    the container) may heal and is retried."""
    driver = read_driver() if driver is None else driver
    reason = ""
    try:
        torch.cuda.init()
    except Exception as exc:  # noqa: BLE001 - torch's own words for why CUDA does not start
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    built = getattr(torch.version, "cuda", None)
    need = _major(built)
    too_old = "too old" in reason.lower() or (
        need is not None and driver.cuda is not None and driver.cuda[0] < need
    )
    if too_old and need is not None:
        return ModelLoadFailed(
            f"the NVIDIA {driver.describe()} is too old for torch {torch.__version__}, which is built "
            f"for CUDA {built} and needs driver {MIN_DRIVER.get(need, 'newer')} or newer; update the "
            f"node's NVIDIA driver (or run an image whose torch is built for CUDA "
            f"{driver.cuda[0] if driver.cuda else 'your driver supports'})"
            + (f" [{reason}]" if reason else ""),
            permanent=True,
        )
    visible = env.get("CUDA_VISIBLE_DEVICES", "<unset>")
    return ModelLoadFailed(
        "T2V_WORKER_DEVICE=cuda but no CUDA device is usable "
        f"(CUDA_VISIBLE_DEVICES={visible}; NVIDIA {driver.describe()}"
        + (f"; {reason}" if reason else "")
        + ")"
    )


def describe_cuda(torch: Any, driver: DriverInfo | None = None) -> str:
    """One log line: device, driver, torch and its CUDA build."""
    driver = read_driver() if driver is None else driver
    props = torch.cuda.get_device_properties(0)
    return (
        f"{props.name} (compute {props.major}.{props.minor}, {props.total_memory / 2**30:.0f} GiB), "
        f"NVIDIA {driver.describe()}, torch {torch.__version__} built for CUDA {torch.version.cuda}"
    )


# ---- errors after which the CUDA context is unusable -------------------------------------------

# CUDA reports these once and then fails every later call in the process (sticky errors), or the
# library's state is undefined after them (cuDNN/cuBLAS execution failures, NCCL errors).
STICKY_ERRORS = (
    "illegal memory access",
    "illegal instruction",
    "misaligned address",
    "unspecified launch failure",
    "device-side assert",
    "hardware stack error",
    "invalid program counter",
    "launch timed out",
    "uncorrectable ecc",
    "cudnn_status_execution_failed",
    "cublas_status_execution_failed",
    "nccl error",
    "ncclunhandledcudaerror",
    "ncclsystemerror",
    "ncclinternalerror",
)


def is_sticky_cuda_error(exc: BaseException) -> bool:
    """True when ``exc`` (or an exception it was raised from) leaves the CUDA context unusable."""
    seen: BaseException | None = exc
    depth = 0
    while seen is not None and depth < 10:
        if type(seen).__name__ == "DistBackendError":
            return True
        text = str(seen).lower()
        if any(marker in text for marker in STICKY_ERRORS):
            return True
        seen = seen.__cause__ or seen.__context__
        depth += 1
    return False


# ---- compilers ---------------------------------------------------------------------------------


def find_compiler(device: str, env: Mapping[str, str] | None = None) -> str | None:
    """The compiler compiled blocks need: Triton builds its GPU launchers with a C compiler
    (``CC``, else ``gcc``, else ``clang``); Inductor's CPU kernels need a C++ one (``CXX``, else
    ``g++``). None when there is none."""
    env = os.environ if env is None else env
    path = env.get("PATH")
    if device.startswith("cuda"):
        if env.get("CC"):
            return shutil.which(env["CC"], path=path)
        return shutil.which("gcc", path=path) or shutil.which("clang", path=path)
    return shutil.which(env.get("CXX") or "g++", path=path)


def triton_launcher_error(compiler: str) -> str | None:
    """Compiles what Triton compiles for each kernel's launcher (C that includes ``Python.h``,
    with the interpreter's include directory): None when it builds, else the compiler's first
    error line. A compiler without the C library's headers (``libc6-dev``) or without the Python
    headers fails here instead of in the warm-up's first compile."""
    scheme = sysconfig.get_default_scheme()
    if scheme == "posix_local":  # as Triton does on Debian's system Python
        scheme = "posix_prefix"
    include = sysconfig.get_paths(scheme=scheme)["include"]
    with tempfile.TemporaryDirectory(prefix="t2v-cc-") as work:
        source = os.path.join(work, "launcher.c")
        with open(source, "w", encoding="ascii") as fh:
            fh.write("#include <Python.h>\n#include <stdio.h>\nint t2v_probe(void) { return 0; }\n")
        try:
            proc = subprocess.run(
                [compiler, "-c", source, "-o", os.path.join(work, "launcher.o"), f"-I{include}"],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{type(exc).__name__}: {exc}"
    if proc.returncode == 0:
        return None
    lines = [line for line in (proc.stderr + proc.stdout).splitlines() if "error" in line.lower()]
    return (lines or [f"exit status {proc.returncode}"])[0].strip()


def require_compiler(device: str, env: Mapping[str, str] | None = None) -> str:
    """The compiler's path, or a permanent load failure naming what to install. On CUDA the
    compiler must also build Triton's launcher (``triton_launcher_error``)."""
    found = find_compiler(device, env)
    if found and device.startswith("cuda"):
        error = triton_launcher_error(found)
        if error:
            raise ModelLoadFailed(
                f"T2V_COMPILE=blocks: {found} cannot build Triton's kernel launcher ({error}); the image "
                "needs the C library's headers (libc6-dev) and Python's (Python.h), or set T2V_COMPILE=off",
                permanent=True,
            )
    if found:
        return found
    what = (
        "a C compiler for Triton (gcc; or CC=<compiler>)"
        if device.startswith("cuda")
        else "a C++ compiler for Inductor (g++; or CXX=<compiler>)"
    )
    raise ModelLoadFailed(
        f"T2V_COMPILE=blocks needs {what}, and none is on PATH; install it in the image or set "
        "T2V_COMPILE=off",
        permanent=True,
    )

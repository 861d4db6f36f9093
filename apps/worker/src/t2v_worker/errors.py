"""Failures the worker reports. Each carries one protocol error code."""

from __future__ import annotations


class WorkerError(Exception):
    """A failure of one job (or of the load), reported as ``error{code, message}``."""

    code = "ENGINE_ERROR"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class InvalidParams(WorkerError):
    code = "INVALID_PARAMS"


class Cancelled(WorkerError):
    code = "CANCELLED"


class GpuOutOfMemory(WorkerError):
    code = "GPU_OOM"


class StorageError(WorkerError):
    code = "STORAGE_ERROR"


class ModelLoadFailed(WorkerError):
    """The model cannot be loaded. ``permanent``: retrying the same process cannot heal it (a
    missing module, a wrong path, a bad setting), so the worker exits with ``EXIT_PERMANENT``."""

    code = "MODEL_LOAD_FAILED"

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


SETUP_HINT = (
    "the worker's Python environment is not set up: run `npx nx run worker:setup` "
    "(`npm start` runs it for the wan and wan-tiny engines)"
)


def is_permanent(exc: BaseException) -> bool:
    """True for load failures that will fail the same way on every restart."""
    if isinstance(exc, ModelLoadFailed):
        return exc.permanent
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ImportError):
            return True
        seen = seen.__cause__
    return False


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA (and other accelerator) allocation failures, whatever torch version raised them."""
    name = type(exc).__name__
    if name == "OutOfMemoryError":
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()

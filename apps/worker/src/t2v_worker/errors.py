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
    code = "MODEL_LOAD_FAILED"


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA (and other accelerator) allocation failures, whatever torch version raised them."""
    name = type(exc).__name__
    if name == "OutOfMemoryError":
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()

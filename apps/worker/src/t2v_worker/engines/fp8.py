"""``T2V_TRANSFORMER_WEIGHTS=fp8``: the transformer's linear layers in float8 (opt-in, docs/adr/0087).

torchao's float8 dynamic quantisation: each linear layer of the transformer blocks keeps its
weight in ``float8_e4m3fn`` with one scale per output row, and quantises its input per token at
run time, so the matrix multiplications run on the FP8 tensor cores (``torch._scaled_mm``).
Halves the transformer's weight memory; whether it is faster end to end on the model's shapes is
what the GPU benchmark's ``fp8`` case measures, so it stays off by default.

Refused at start, before any weight is read, with a message that says why and what to do: on a
CPU worker, on a GPU without FP8 tensor cores (compute capability below 8.9: T4, A10, A100), and
when torchao is not installed (it is not in ``requirements.lock``: the images that want FP8 add
it).
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import ModelLoadFailed

log = logging.getLogger(__name__)

FP8_CAPABILITY = (8, 9)
TORCHAO_HINT = "install torchao in the worker's environment (pip install torchao==0.18.0)"


def check_fp8(device: str, torch: Any) -> None:
    """Raises a permanent ModelLoadFailed when FP8 weights cannot run here."""
    unset = "set T2V_TRANSFORMER_WEIGHTS=bf16 (the default)"
    if not device.startswith("cuda"):
        raise ModelLoadFailed(
            "T2V_TRANSFORMER_WEIGHTS=fp8 needs a CUDA GPU with FP8 tensor cores (compute capability "
            f"8.9 or newer: L4, L40S, H100, H200); this worker runs on the CPU; {unset}",
            permanent=True,
        )
    capability = tuple(torch.cuda.get_device_capability(0))
    if capability < FP8_CAPABILITY:
        name = torch.cuda.get_device_name(0)
        raise ModelLoadFailed(
            f"T2V_TRANSFORMER_WEIGHTS=fp8 needs FP8 tensor cores (compute capability 8.9 or newer); "
            f"{name} has {capability[0]}.{capability[1]}; {unset}",
            permanent=True,
        )
    try:
        import torchao  # type: ignore[import-not-found]  # noqa: F401
    except ImportError as exc:
        raise ModelLoadFailed(
            f"T2V_TRANSFORMER_WEIGHTS=fp8 needs torchao, which is not installed: {TORCHAO_HINT}, or {unset}",
            permanent=True,
        ) from exc


def _in_blocks(module: Any, fqn: str) -> bool:
    # The blocks' projections and feed-forward layers carry the FLOPs; the embedders and the
    # output head stay in bfloat16 (small, and the most sensitive to precision).
    import torch

    return isinstance(module, torch.nn.Linear) and fqn.startswith("blocks.")


def quantize_transformer(transformer: Any) -> None:
    """The blocks' linear layers to float8 weights with dynamic float8 activations, in place."""
    from torchao.quantization import (  # type: ignore[import-not-found]
        Float8DynamicActivationFloat8WeightConfig,
        PerRow,
        quantize_,
    )

    quantize_(
        transformer, Float8DynamicActivationFloat8WeightConfig(granularity=PerRow()), filter_fn=_in_blocks
    )
    log.info("transformer blocks' linear layers in float8 (torchao, per-row scales)")

"""``T2V_PARALLEL``: how one job is spread over the ranks of a worker group.

- ``off`` (default): one rank, one device.
- ``cfg``: two ranks; rank 0 computes the conditional transformer pass of every step, rank 1 the
  unconditional one, and the two results are exchanged before the guidance is combined.
- ``ulysses:N``: N ranks; diffusers' Ulysses sequence parallelism splits the video tokens of every
  pass across the ranks (all-to-all around attention).
- ``cfg+ulysses:N``: 2×N ranks, a Ulysses group of N for each half of classifier-free guidance.
"""

from __future__ import annotations

from dataclasses import dataclass


class ParallelConfigError(ValueError):
    """Reported by ``config.load_config`` as a ConfigError (a bad setting: the worker does not start)."""


ACCEPTED = "accepted: off, cfg, ulysses:<N ≥ 2>, cfg+ulysses:<N ≥ 2>"
# Beyond this a group no longer fits one node's GPUs, and the all-to-all no longer pays.
MAX_ULYSSES = 8


@dataclass(frozen=True)
class ParallelSpec:
    cfg: bool = False
    ulysses: int = 1

    @property
    def size(self) -> int:
        """Ranks (devices) one job runs on."""
        return (2 if self.cfg else 1) * self.ulysses

    @property
    def enabled(self) -> bool:
        return self.size > 1

    def __str__(self) -> str:
        parts = (["cfg"] if self.cfg else []) + ([f"ulysses:{self.ulysses}"] if self.ulysses > 1 else [])
        return "+".join(parts) or "off"


def parse_parallel(raw: str) -> ParallelSpec:
    """Raises ParallelConfigError naming T2V_PARALLEL and the accepted forms."""
    value = raw.strip().lower() or "off"
    if value == "off":
        return ParallelSpec()
    cfg = False
    ulysses = 1
    for part in value.split("+"):
        kind, sep, arg = part.partition(":")
        if kind == "cfg" and not sep and not cfg:
            cfg = True
        elif kind == "ulysses" and sep and ulysses == 1:
            if not arg.isdigit():
                raise ParallelConfigError(
                    f"T2V_PARALLEL={raw!r}: ulysses:<N> needs a whole number ({ACCEPTED})"
                )
            ulysses = int(arg)
            if not 2 <= ulysses <= MAX_ULYSSES:
                raise ParallelConfigError(
                    f"T2V_PARALLEL={raw!r}: the Ulysses degree must be 2..{MAX_ULYSSES} ({ACCEPTED})"
                )
        else:
            raise ParallelConfigError(f"T2V_PARALLEL={raw!r} is not understood ({ACCEPTED})")
    return ParallelSpec(cfg=cfg, ulysses=ulysses)


def group_devices(spec: ParallelSpec, device: str, visible: str | None) -> None:
    """A CUDA worker group sees exactly its own devices (``CUDA_VISIBLE_DEVICES``, one per rank)."""
    if not spec.enabled or device != "cuda" or visible is None:
        return
    listed = [d for d in (x.strip() for x in visible.split(",")) if d]
    if len(listed) != spec.size:
        raise ParallelConfigError(
            f"T2V_PARALLEL={spec} runs one job on {spec.size} GPUs, but CUDA_VISIBLE_DEVICES="
            f"{visible!r} lists {len(listed)}; give each worker group exactly {spec.size} devices"
        )

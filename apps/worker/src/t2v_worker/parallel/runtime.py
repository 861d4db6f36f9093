"""Running one engine's jobs across a group of ranks.

Every rank holds the whole pipeline and runs the same ``generate`` with the same parameters and
seed, so text encoding, the scheduler and the latents agree on every rank. What differs is the
transformer:

- Ulysses (``ulysses:N``): diffusers' context parallelism, ``transformer.enable_parallelism``,
  splits the video tokens of every pass across the N ranks of a Ulysses group;
- CFG (``cfg``): ``CfgSplit`` wraps the transformer's forward. Of the two passes of a step,
  the rank of the conditional half computes the first (prompt), the rank of the unconditional half
  the second (negative prompt), at the same time; one all-gather on the CFG group then gives each
  rank both results, and the pipeline combines them as it would on one device.

After every step each rank calls ``step_control``: one all-reduce of rank 0's cancel flag, so all
ranks stop at the same step. A collective that fails or times out (a rank died or hangs) is fatal
to the group: see ``group.py``.
"""

from __future__ import annotations

import logging
import types
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from ..engines.base import Engine, StepCallback
from ..errors import Cancelled, InvalidParams, ModelLoadFailed
from ..params import GenerateParams, tokens_for
from .spec import ParallelSpec

log = logging.getLogger(__name__)


def video_tokens(params: GenerateParams) -> int:
    """Sequence length of one transformer pass for this job."""
    return tokens_for(params.width, params.height, params.num_frames)


def ulysses_refusal(spec: ParallelSpec, device: str, compiled: bool, tokens: int) -> str | None:
    """Why a job of ``tokens`` video tokens cannot run on this group, or None.

    Plain Ulysses (equal shards) needs a token count that the degree divides: 1280×704×121
    (27 280 tokens) splits over 2, 4 and 8 ranks, 832×480×121 (12 090) over 2 only. Other counts
    run as diffusers' "Ulysses anything" (unequal shards) on eager CUDA only: gloo cannot exchange
    unequal shards, and the shard sizes it exchanges at every attention cannot be held in a
    ``fullgraph`` compiled block."""
    n = spec.ulysses
    if n <= 1 or tokens % n == 0:
        return None
    if device != "cuda":
        why = "on CPU (gloo exchanges equal shards only)"
    elif compiled:
        why = "with T2V_COMPILE=blocks (unequal shards cannot be compiled)"
    else:
        return None
    return (
        f"{tokens} video tokens, which T2V_PARALLEL={spec} cannot split evenly {why}; choose a size "
        f"whose token count is a multiple of {n}"
    )


def check_tokens(spec: ParallelSpec, device: str, params: GenerateParams, compiled: bool = False) -> None:
    """Refuses a job that ``ulysses_refusal`` refuses (``INVALID_PARAMS``, before any rank runs)."""
    reason = ulysses_refusal(spec, device, compiled, video_tokens(params))
    if reason:
        raise InvalidParams(f"{params.width}x{params.height}, {params.num_frames} frames is {reason}")


class GroupBroken(RuntimeError):
    """A collective of the group failed or timed out: a rank died or hangs. Fatal to the group."""


# Joining, building sub-groups and waiting for slower ranks to load: not a hang, however short the
# job timeout is. ``GroupRuntime`` tightens every group to T2V_PARALLEL_TIMEOUT_S once set up.
SETUP_TIMEOUT_S = 900.0


def init_process_group(
    rank: int, world: int, port: int, device: str, timeout_s: float, store: Any = None
) -> None:
    """Joins the group's process group. CPU tensors (control flags, size exchanges) go over gloo;
    on CUDA the transformer's tensors go over NCCL."""
    import torch
    import torch.distributed as dist

    timeout_s = max(timeout_s, SETUP_TIMEOUT_S)
    if store is None:
        store = dist.TCPStore("127.0.0.1", port, world, is_master=False, timeout=timedelta(seconds=timeout_s))
    backend = "cpu:gloo,cuda:nccl" if device == "cuda" else "cpu:gloo"
    kwargs: dict[str, Any] = {}
    if device == "cuda":
        torch.cuda.set_device(0)
        kwargs["device_id"] = torch.device("cuda", 0)
    dist.init_process_group(
        backend, store=store, rank=rank, world_size=world, timeout=timedelta(seconds=timeout_s), **kwargs
    )


class Mesh:
    """The group's layout: rank = cfg_index × ulysses + ulysses_index."""

    def __init__(self, spec: ParallelSpec, rank: int, device: str) -> None:
        from torch.distributed.device_mesh import init_device_mesh

        self.spec = spec
        self.rank = rank
        self.cfg_index = rank // spec.ulysses
        self.ulysses_index = rank % spec.ulysses
        device_type = "cuda" if device == "cuda" else "cpu"
        # Built right after the process group, before loading: creating sub-groups is collective,
        # and ranks that load at different speeds would otherwise wait on each other here.
        self.mesh = init_device_mesh(
            device_type, (2 if spec.cfg else 1, 1, spec.ulysses), mesh_dim_names=("cfg", "ring", "ulysses")
        )
        self.cfg_group = self.mesh["cfg"].get_group() if spec.cfg else None


class CfgSplit:
    """Wraps the transformer's forward so each CFG half computes one of a step's two passes."""

    def __init__(self, transformer: Any, mesh: Mesh) -> None:
        self._transformer = transformer
        self._mesh = mesh
        self._inner: Callable[..., Any] = transformer.forward
        self._active = False
        self._calls = 0
        self._mine: Any = None
        self._placeholder: Any = None
        transformer.forward = self.forward

    def begin_job(self, guidance_scale: float) -> None:
        # diffusers' WanPipeline runs the unconditional pass only when guidance_scale > 1; without
        # it the conditional half computes every pass and the other half waits out the job.
        self._active = guidance_scale > 1.0
        self._calls = 0
        self._mine = None
        self._placeholder = None

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        import torch
        import torch.distributed as dist

        half = self._mesh.cfg_index
        if not self._active:
            if half == 0:
                return self._inner(*args, **kwargs)
            return self._wrap(self._zeros(args, kwargs), kwargs)
        first = self._calls % 2 == 0
        self._calls += 1
        if first:
            # Pass 1 of the step (prompt). Half 1 computes nothing now: it returns a buffer that
            # receives half 0's result in place at pass 2, before the pipeline reads it.
            if half == 0:
                self._mine = self._unwrap(self._inner(*args, **kwargs))
                return self._wrap(self._mine, kwargs)
            self._placeholder = self._zeros(args, kwargs)
            return self._wrap(self._placeholder, kwargs)
        # Pass 2 (negative prompt): half 1 computes it, then both halves swap results.
        if half == 1:
            self._mine = self._unwrap(self._inner(*args, **kwargs))
        mine = self._mine.contiguous()
        gathered = [torch.empty_like(mine) for _ in range(2)]
        try:
            dist.all_gather(gathered, mine, group=self._mesh.cfg_group)
        except Exception as exc:  # noqa: BLE001 - a peer that died or hangs
            raise GroupBroken(f"CFG exchange failed: {type(exc).__name__}: {exc}") from exc
        cond, uncond = gathered
        if half == 1:
            self._placeholder.copy_(cond)
        self._mine = None
        self._placeholder = None
        return self._wrap(uncond, kwargs)

    def _zeros(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        import torch

        hidden = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]
        shape = list(hidden.shape)
        shape[1] = self._transformer.config.out_channels
        return torch.zeros(shape, dtype=hidden.dtype, device=hidden.device)

    @staticmethod
    def _unwrap(output: Any) -> Any:
        return output[0] if isinstance(output, tuple) else output.sample

    @staticmethod
    def _wrap(sample: Any, kwargs: dict[str, Any]) -> Any:
        if kwargs.get("return_dict", True) is False:
            return (sample,)
        from diffusers.models.modeling_outputs import Transformer2DModelOutput

        return Transformer2DModelOutput(sample=sample)


def set_collective_timeout(timeout_s: float) -> None:
    """From now on a collective of any of this rank's groups that waits longer fails (a peer hangs).

    Called on every rank once all sub-groups exist (creating one is itself collective)."""
    import torch.distributed as dist
    from torch.distributed import distributed_c10d as c10d

    timeout = timedelta(seconds=timeout_s)
    for group in list(c10d._world.pg_map.keys()):
        if dist.get_rank(group) >= 0:
            c10d._set_pg_timeout(timeout, group)


def enable_ulysses(transformer: Any, mesh: Mesh, device: str) -> Any:
    """diffusers' Ulysses attention on the group's Ulysses dimension; returns its config.

    Plain Ulysses (equal shards, a fixed all-to-all per attention) on every device, so CI's gloo
    groups run the code path a GPU group runs. A job whose token count the degree does not divide
    switches the config to "Ulysses anything" for that job on eager CUDA (``GroupRuntime``) and is
    refused elsewhere (``ulysses_refusal``). The heads must split evenly (24 heads: 2, 3, 4, 6, 8
    ranks). On CPU diffusers cannot place the config by itself (it takes ``rank % accelerator
    count``, and a CPU has no accelerator): the device is given here.
    """
    import torch
    from diffusers import ContextParallelConfig
    from diffusers.models._modeling_parallel import ParallelConfig

    n = mesh.spec.ulysses
    heads = int(transformer.config.num_attention_heads)
    if heads % n:
        raise ModelLoadFailed(
            f"T2V_PARALLEL={mesh.spec}: the transformer has {heads} attention heads, which "
            f"ulysses:{n} cannot split evenly",
            permanent=True,
        )
    cp = ContextParallelConfig(ulysses_degree=n, mesh=mesh.mesh)
    if device != "cuda":

        def resolve(self: Any, config: Any) -> Any:
            full = ParallelConfig(context_parallel_config=config)
            full.setup(mesh.rank, mesh.spec.size, torch.device("cpu"), mesh=mesh.mesh)
            self._parallel_config = full
            return full

        transformer._resolve_parallel_config = types.MethodType(resolve, transformer)
    try:
        transformer.enable_parallelism(config=cp)
    except Exception as exc:  # noqa: BLE001 - e.g. an attention backend without context parallelism
        raise ModelLoadFailed(
            f"T2V_PARALLEL={mesh.spec}: {type(exc).__name__}: {exc}", permanent=True
        ) from exc
    return cp


# diffusers' names: the hook that splits the first block's input across the Ulysses ranks, and
# First Block Cache's hook on that block.
SPLIT_HOOK = "cp_input---blocks.0"
FBC_HEAD_HOOK = "fbc_leader_block_hook"


def install_cache_in_shards(transformer: Any, group: Any, install: Callable[[], None]) -> None:
    """Installs fresh First Block Cache hooks (``install``) on a Ulysses rank so that the cache
    works on this rank's shard and every rank of ``group`` makes the same decision.

    diffusers registers each new hook outside the ones already there, so cache hooks installed per
    job would sit outside the hook that splits the first block's input: the cache would compare
    the whole sequence with this rank's shard of the output (a shape error on every job). The
    split hook is therefore taken off and put back on top. Then the cache's decision (skip the
    other blocks or not) is made on the shard: each rank would decide from its own tokens, ranks
    would disagree, and the ones that compute would wait in the next all-to-all for the ones that
    skipped until the group timeout. The decision is made from the sums over all shards instead
    (one all-reduce of two numbers per pass), which is the single-device decision.
    """
    from diffusers.hooks.context_parallel import apply_context_parallel, remove_context_parallel

    plan = {"blocks.0": transformer._cp_plan["blocks.0"]}
    config = transformer._parallel_config.context_parallel_config
    # The split hook is the only hook of the first block here (the last job's cache hooks are gone).
    remove_context_parallel(transformer, plan)
    install()
    apply_context_parallel(transformer, config, plan)
    registry = transformer.blocks[0]._diffusers_hook
    assert registry._hook_order[-1] == SPLIT_HOOK, registry._hook_order
    head = registry.get_hook(FBC_HEAD_HOOK)
    head._should_compute_remaining_blocks = types.MethodType(group_cache_decision(group), head)


def group_cache_decision(group: Any) -> Callable[[Any, Any], bool]:
    """First Block Cache's ``_should_compute_remaining_blocks`` over a group's shards: the mean
    absolute change of the first block's residual relative to its mean magnitude, from sums
    all-reduced over ``group``, against the threshold. Every rank gets the same answer."""
    import torch
    import torch.distributed as dist

    @torch.compiler.disable
    def should_compute(hook: Any, residual: Any) -> bool:
        state = hook.state_manager.get_state()
        if state.head_block_residual is None:
            return True
        previous = state.head_block_residual
        sums = torch.stack([(residual - previous).abs().sum(), previous.abs().sum()]).float()
        try:
            dist.all_reduce(sums, group=group)
        except Exception as exc:  # noqa: BLE001 - a peer that died or hangs
            raise GroupBroken(f"step cache decision failed: {type(exc).__name__}: {exc}") from exc
        return bool((sums[0] / sums[1]).item() > hook.threshold)

    return should_compute


def pick_ulysses_attention(engine: Any) -> None:
    """Ulysses needs an attention backend with context parallelism. A configured one that lacks it
    is a load failure (from ``enable_parallelism``); an automatic pick is redone among those that
    have it."""
    from diffusers.models.attention_dispatch import AttentionBackendName, _AttentionBackendRegistry

    from ..engines.accel import GPU_ATTENTION_ORDER, pick_attention_backend

    accel = engine.accelerator
    configured = engine.config.attention_backend
    if (configured and configured != "auto") or not engine.device.startswith("cuda"):
        return
    if _AttentionBackendRegistry._is_context_parallel_available(AttentionBackendName(accel.attention)):
        return
    order = tuple(
        name
        for name in GPU_ATTENTION_ORDER
        if _AttentionBackendRegistry._is_context_parallel_available(AttentionBackendName(name))
    )
    log.info("attention backend %s has no context parallelism; choosing among %s", accel.attention, order)
    accel.attention = pick_attention_backend(engine.pipe.transformer, order)


class GroupRuntime:
    """Installed on a loaded engine of every rank: the parallel transformer and the step control."""

    def __init__(
        self, engine: Engine, spec: ParallelSpec, mesh: Mesh, device: str, timeout_s: float | None = None
    ) -> None:
        self.engine = engine
        self.spec = spec
        self.mesh = mesh
        self.device = device
        self.cfg: CfgSplit | None = None
        self.ulysses: Any = None
        self._inner_generate = engine.generate
        self.dispatch: Callable[[GenerateParams], None] | None = None
        self.compiled = getattr(engine.config, "compile", "off") == "blocks"
        transformer = engine.pipe.transformer  # type: ignore[attr-defined]
        if spec.ulysses > 1:
            pick_ulysses_attention(engine)
            self.ulysses = enable_ulysses(transformer, mesh, device)
            group = mesh.mesh["ulysses"].get_group()
            engine.accelerator.install_cache = (  # type: ignore[attr-defined]
                lambda t, install: install_cache_in_shards(t, group, install)
            )
            # The warm-up leaves out the shapes this group refuses.
            engine.warmup_refusal = lambda w, h, f: ulysses_refusal(  # type: ignore[method-assign]
                spec, device, self.compiled, tokens_for(w, h, f)
            )
        if spec.cfg:
            self.cfg = CfgSplit(transformer, mesh)
        if mesh.rank != 0:
            # Only rank 0 decodes and writes the video; the others stop at the latents.
            engine.output_type = "latent"  # type: ignore[attr-defined]
        # An instance attribute: the engine's own warm-up (self.generate) runs on the group too.
        engine.generate = self.generate  # type: ignore[method-assign]
        if timeout_s is not None:
            set_collective_timeout(timeout_s)

    def generate(self, params: GenerateParams, on_step: StepCallback) -> Any:
        self.engine.validate(params)
        check_tokens(self.spec, self.device, params, self.compiled)
        if self.ulysses is not None:
            anything = video_tokens(params) % self.spec.ulysses != 0
            if anything:
                log.warning(
                    "%d video tokens do not split evenly over %d ranks: this job runs diffusers' "
                    "'Ulysses anything' (unequal shards, eager CUDA only; not exercised in CI)",
                    video_tokens(params),
                    self.spec.ulysses,
                )
            self.ulysses.ulysses_anything = anything
        if self.dispatch is not None:
            self.dispatch(params)
        if self.cfg is not None:
            self.cfg.begin_job(params.guidance_scale)

        def step(index: int, total: int) -> None:
            self.step_control(index, total, on_step)

        result = self._inner_generate(params, step)
        self._merge_pass_counts()
        return result

    def step_control(self, index: int, total: int, on_step: StepCallback) -> None:
        """Runs rank 0's step callback (progress, cancel), then tells every rank whether to stop."""
        import torch
        import torch.distributed as dist

        cancelled: Cancelled | None = None
        try:
            on_step(index, total)
        except Cancelled as exc:
            cancelled = exc
        flag = torch.tensor([1 if cancelled is not None else 0], dtype=torch.int32)
        try:
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        except Exception as exc:  # noqa: BLE001 - a peer that died or hangs
            raise GroupBroken(f"step {index} control failed: {type(exc).__name__}: {exc}") from exc
        if int(flag.item()):
            if cancelled is not None:
                raise cancelled
            log.info("rank %d: the group cancels the job at step %d of %d", self.mesh.rank, index, total)
            raise Cancelled(f"cancelled at step {index} of {total}")

    def _merge_pass_counts(self) -> None:
        """Rank 0 reports the passes of both CFG halves (the accelerator counts its own)."""
        if self.cfg is None:
            return
        import torch
        import torch.distributed as dist

        accelerator = self.engine.accelerator
        total = torch.tensor([accelerator.passes], dtype=torch.int64)
        try:
            dist.all_reduce(total, group=self.mesh.cfg_group)
        except Exception as exc:  # noqa: BLE001
            raise GroupBroken(f"pass count exchange failed: {type(exc).__name__}: {exc}") from exc
        accelerator.passes = int(total.item())

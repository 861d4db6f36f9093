"""The engine interface and the WanPipeline code path that ``wan`` and ``wan-tiny`` share."""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from ..card import ModelInfo, Ranges, model_card
from ..config import WorkerConfig
from ..device import cuda_unavailable, describe_cuda, prepare_process_env
from ..errors import SETUP_HINT, InvalidParams, ModelLoadFailed
from ..params import EngineLimits, GenerateParams, tokens_for, validate
from ..preview import Previewer, Projection, fit_projection, x0_estimate
from ..profile import ModelProfile, ProfileError, load_profile, profile_path
from .accel import Accelerator
from .fp8 import check_fp8, quantize_transformer
from .image import load_image
from .lora import LoraSet
from .vae_stream import DecodedVideo, choose_tiling

log = logging.getLogger(__name__)

StepCallback = Callable[[int, int], None]
"""Called after each denoising step with (step, total), step counting from 1. May raise to stop."""


def hub_offline() -> None:
    """No hub access, ever: weights come from a local directory or are built in code."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class Engine:
    """One loaded text-to-video pipeline. ``load`` once, then ``generate`` one job at a time.

    Each engine describes its model once: who it is (``info``), what it accepts (``limits``,
    ``ranges``) and what a job that leaves a field out gets (``default_profile``). Its card
    (``card.py``), its checks of every job and its warm-up shapes all read these.
    """

    name = "engine"
    info: ModelInfo
    limits: EngineLimits
    ranges: Ranges
    # The model's own defaults (profile.py: sizes, fps, length, steps, guidance, flow shift,
    # negative prompt), written nowhere else; a profile file overrides the fields it sets.
    default_profile: ModelProfile
    # What a job may give besides the prompt, as far as is known before loading.
    inputs: tuple[str, ...] = ("text", "image")

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.device = "cpu"
        # LoRA adapters loaded at start (the card's ``loras``); jobs choose among them.
        self.lora_names: tuple[str, ...] = ()
        self.profile: ModelProfile | None = None
        self._profile_read = False
        self.loaded = False
        # Live previews: the latent→RGB map fitted at load (None: this engine gives none), and
        # the current job's previewer, set by the server around ``generate``.
        self.preview_projection: Projection | None = None
        self._preview_fit_failed = False
        self.previewer: Previewer | None = None

    @property
    def model_id(self) -> str:
        return (self.profile and self.profile.id) or self.info.id

    def read_profile(self) -> None:
        """The profile in effect: the engine's built-in one, with a profile file's fields over it
        (it narrows the ranges and sets defaults). Read once, stdlib only."""
        if self._profile_read:
            return
        self._profile_read = True
        self.profile = self.default_profile
        path = profile_path(self.config.model_path, self.config.model_profile)
        if path is None:
            return
        try:
            self.profile = load_profile(path).over(self.default_profile)
        except ProfileError as exc:
            raise ModelLoadFailed(str(exc)) from exc
        log.info("model profile %s: %s", path, self.profile)

    def defaults(self) -> ModelProfile:
        """Every default of the model as served: the profile in effect."""
        self.read_profile()
        assert self.profile is not None
        return self.profile

    def loaded_inputs(self) -> tuple[str, ...]:
        return self.inputs

    def card(self) -> dict[str, Any]:
        """The model card: after ``load`` what the loaded pipeline takes; before it, what is configured."""
        self.read_profile()
        if self.loaded:
            return model_card(self, self.loaded_inputs(), self.lora_names)
        return model_card(self, self.inputs, [spec.name for spec in self.config.loras])

    def load(self) -> None:
        raise NotImplementedError

    def projection_for_previews(self) -> Projection | None:
        """The latent→RGB map for live previews; None for an engine without latents."""
        return None

    def generate(self, params: GenerateParams, on_step: StepCallback) -> Any:
        """Returns frames as a float array F×H×W×3 in [0, 1]."""
        raise NotImplementedError

    def warmup_params(self) -> GenerateParams:
        raise NotImplementedError

    def warmup(self) -> None:
        """Runs the warm-up generation(s) before ``ready``; nothing is written."""
        started = time.monotonic()
        self.generate(self.warmup_params(), lambda _step, _total: None)
        log.info("warm-up generation took %.2fs", time.monotonic() - started)

    def validate(self, params: GenerateParams) -> None:
        """Raises InvalidParams for what this engine (and its model profile) cannot honour."""
        validate(params, self.limits)

    def free_memory(self) -> None:
        gc.collect()

    def gpu_memory(self) -> tuple[int | None, int | None]:
        return None, None

    def run_report(self, params: GenerateParams) -> dict[str, Any]:
        """What produced the last job's video (``done.acceleration``). No transformer: nothing."""
        return {
            "cache": "off",
            "compile": "off",
            "attention": None,
            "passes": None,
            "planned_passes": None,
            "weights": None,
        }


class WanPipelineEngine(Engine):
    """diffusers' ``WanPipeline`` with a per-job scheduler (so ``flow_shift`` never leaks).

    Image-to-video runs diffusers' ``WanImageToVideoPipeline`` built over the *same* component
    objects (``image_pipeline_from``): one copy of the weights serves both kinds of job. Wan2.2
    TI2V-5B conditions on the image the way that pipeline does with ``expand_timesteps``: the
    image's VAE latent replaces the first latent frame before every transformer pass (whose
    timestep there is 0) and in the final latents; there is no CLIP image encoder. LoRA adapters
    (``lora.LoraSet``) live in that shared transformer, so they apply to both.
    """

    max_sequence_length = 512
    # "latent" on the ranks of a worker group other than rank 0: only rank 0 decodes (parallel/).
    output_type = "np"

    def __init__(self, config: WorkerConfig) -> None:
        super().__init__(config)
        self.pipe: Any = None
        # The image-to-video pipeline over the same components; None when the model has no
        # image path (a transformer without ``expand_timesteps``).
        self.i2v_pipe: Any = None
        self.loras = LoraSet(config.loras)
        self.torch: Any = None
        self._scheduler_class: Any = None
        self._scheduler_config: Any = None
        self.accelerator = Accelerator(config)
        # The current job's image, checked and decoded: (path, sha256, width, height) -> RGB image.
        self._image: tuple[tuple[str, str, int, int], Any] | None = None

    def _input_image(self, params: GenerateParams) -> Any:
        """The job's image, read, hashed and decoded once per job: the server's validate, the
        engine's generate (and a worker group's rank 0) share it."""
        image = params.image
        assert image is not None
        key = (image.path, image.sha256, params.width, params.height)
        if self._image is None or self._image[0] != key:
            self._image = (key, load_image(image, params.width, params.height))
        return self._image[1]

    def preset_shapes(self) -> tuple[tuple[int, int, int], ...]:
        """(width, height, frames) of the preset sizes at the default length: what the warm-up
        compiles for (``T2V_WARMUP_SHAPES`` when set, else the profile's sizes at its length)."""
        if self.config.warmup_shapes:
            return self.config.warmup_shapes
        defaults = self.defaults()
        return tuple((w, h, defaults.num_frames) for w, h in defaults.sizes if defaults.num_frames)

    def largest_tokens(self) -> int | None:
        """Video tokens of the largest preset: the attention probe's sequence length."""
        shapes = self.preset_shapes()
        return max((tokens_for(w, h, f) for w, h, f in shapes), default=None)

    # Subclasses build the pipeline; everything after that is shared.
    def build_pipeline(self) -> Any:
        raise NotImplementedError

    def load(self) -> None:
        hub_offline()
        prepare_process_env()
        self.read_profile()
        # Before importing torch: a wrong adapter path is reported at once.
        self.loras.check_files()
        try:
            import torch
        except ImportError as exc:
            raise ModelLoadFailed(f"cannot import torch: {exc}; {SETUP_HINT}", permanent=True) from exc
        except Exception as exc:  # noqa: BLE001 - e.g. a CUDA library that is not there yet
            raise ModelLoadFailed(f"cannot import torch: {type(exc).__name__}: {exc}") from exc
        self.torch = torch
        if self.config.device == "cuda":
            if not torch.cuda.is_available():
                # A driver too old for this CUDA build is permanent; the message names both.
                raise cuda_unavailable(torch, os.environ)
            self.device = "cuda:0"
            log.info("CUDA: %s", describe_cuda(torch))
        else:
            self.device = "cpu"
        if self.config.transformer_weights == "fp8":
            check_fp8(self.device, torch)  # before any weight is read
        pipe = self.build_pipeline()
        if self.config.transformer_weights == "fp8":
            quantize_transformer(pipe.transformer)
        pipe.set_progress_bar_config(disable=True)
        if self.config.vae_tiling:
            # Both engines: the staging profile's tiled decode also runs in CI (wan-tiny).
            pipe.vae.enable_tiling()
        self.loras.load(pipe)
        self.lora_names = self.loras.names
        self.i2v_pipe = image_pipeline_from(pipe)
        self._scheduler_class = type(pipe.scheduler)
        self._scheduler_config = dict(pipe.scheduler.config)
        if self.profile is not None and self.profile.flow_shift is not None:
            self._scheduler_config["flow_shift"] = self.profile.flow_shift
        self.accelerator.setup(pipe, self.device, self.largest_tokens())
        self.pipe = pipe
        self.loaded = True
        if self.config.warmup:
            # A warmed-up worker's first job finds its previews ready too.
            self.projection_for_previews()

    def projection_for_previews(self) -> Projection | None:
        """The latent→RGB map of this VAE (``preview.py``), fitted on first use (at load when the
        worker warms up); None when previews are off. A VAE the fit cannot run on leaves the
        worker without previews, said once in the log."""
        if self.config.preview_every_steps <= 0 or self.pipe is None:
            return None
        if self.preview_projection is None and not self._preview_fit_failed:
            try:
                self.preview_projection = fit_projection(self.torch, self.pipe.vae)
            except Exception as exc:  # noqa: BLE001 - previews are an extra, never a load failure
                self._preview_fit_failed = True
                log.warning("live previews are off: the preview fit failed: %s: %s", type(exc).__name__, exc)
        return self.preview_projection

    def loaded_inputs(self) -> tuple[str, ...]:
        return ("text", "image") if self.i2v_pipe is not None else ("text",)

    def _fresh_scheduler(self, flow_shift: float | None) -> Any:
        overrides: dict[str, Any] = {}
        if flow_shift is not None:
            overrides["flow_shift"] = float(flow_shift)
        return self._scheduler_class.from_config(self._scheduler_config, **overrides)

    def warmup_params(self) -> GenerateParams:
        return self.within_profile(self.base_warmup_params())

    def base_warmup_params(self) -> GenerateParams:
        raise NotImplementedError

    def within_profile(self, params: GenerateParams) -> GenerateParams:
        """Steps and guidance moved into the profile's ranges (for the warm-up's own requests)."""
        profile = self.profile
        if profile is None:
            return params
        steps, guidance = params.num_inference_steps, params.guidance_scale
        if profile.num_inference_steps is not None:
            r = profile.num_inference_steps
            steps = int(min(max(steps, r.min), r.max))
        if profile.guidance_scale is not None:
            r = profile.guidance_scale
            guidance = float(min(max(guidance, r.min), r.max))
        return dataclasses.replace(params, num_inference_steps=steps, guidance_scale=guidance)

    def validate(self, params: GenerateParams) -> None:
        validate(params, self.limits)
        if params.image is not None:
            if self.i2v_pipe is None:
                raise InvalidParams(f"model {self.model_id} does not take an image (text-to-video only)")
            self._input_image(params)
        self.loras.validate(params.loras)
        steps = self.profile.num_inference_steps if self.profile else None
        if steps is not None and not steps.min <= params.num_inference_steps <= steps.max:
            raise InvalidParams(
                f"num_inference_steps {params.num_inference_steps} is outside {steps.min}..{steps.max} "
                f"(model profile {self.profile.source})"
            )
        guidance = self.profile.guidance_scale if self.profile else None
        if guidance is not None and not guidance.min <= params.guidance_scale <= guidance.max:
            raise InvalidParams(
                f"guidance_scale {params.guidance_scale:g} is outside {guidance.min:g}..{guidance.max:g} "
                f"(model profile {self.profile.source})"
            )

    def negative_prompt(self, params: GenerateParams) -> str | None:
        """The job's negative prompt; null means the model's default ("" in a job means none)."""
        if params.negative_prompt is not None:
            return params.negative_prompt
        return self.profile.negative_prompt if self.profile is not None else None

    def generate(self, params: GenerateParams, on_step: StepCallback) -> Any:
        self.validate(params)
        torch = self.torch
        inputs: dict[str, Any] = {}
        if params.image is None:
            pipe = self.pipe
        else:
            pipe = self.i2v_pipe
            inputs["image"] = self._input_image(params)
            self._image = None  # the next job checks its own file
        pipe.scheduler = self._fresh_scheduler(params.flow_shift)
        # Adapters before the cache hooks: begin_job installs fresh hooks after any switch.
        self.loras.apply(self.pipe, params.loras)
        self.accelerator.begin_job(params.acceleration)
        total = params.num_inference_steps

        def step_end(_pipe: Any, index: int, _timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            # Clamped: a scheduler that adds a final step must not report step > total.
            step = min(index + 1, total)
            on_step(step, total)
            if self.previewer is not None:
                self.previewer.maybe(step, total, lambda: x0_estimate(_pipe.scheduler, kwargs["latents"]))
            return kwargs

        # A CPU generator gives the same noise for a seed on every device.
        generator = torch.Generator(device="cpu").manual_seed(params.seed)
        # The pipeline stops at the latents; the server decodes them as it encodes (adr/0085).
        streamed = self.output_type == "np" and self.config.stream_decode
        tiled = choose_tiling(self.pipe.vae, self.config, self.device, params)
        try:
            with torch.inference_mode():
                output = pipe(
                    **inputs,
                    prompt=params.prompt,
                    negative_prompt=self.negative_prompt(params),
                    height=params.height,
                    width=params.width,
                    num_frames=params.num_frames,
                    num_inference_steps=total,
                    guidance_scale=params.guidance_scale,
                    generator=generator,
                    output_type="latent" if streamed else self.output_type,
                    max_sequence_length=self.max_sequence_length,
                    callback_on_step_end=step_end,
                )
        finally:
            if pipe is not self.pipe:
                # Model CPU offload keeps its hooks' bookkeeping on the text pipeline: let it put
                # every shared module back on the CPU, as after a text job (a no-op otherwise).
                self.pipe.maybe_free_model_hooks()
        if streamed:
            return DecodedVideo(self.pipe, output.frames, tiled)
        return output.frames[0]

    def warmup(self) -> None:
        """The transformer only: jobs whose output is the latents (no VAE decode, no copy to the
        host). With compiled blocks, one step with CFG (both passes) for each token count of the
        preset shapes, so the first user job of a preset size finds its graph compiled (the
        blocks' graph depends on the token count only: 1280×704 and 704×1280 share one); else
        the engine's small warm-up."""
        base = self.warmup_params()
        shapes = self.preset_shapes() if self.config.compile == "blocks" else ()
        saved = self.output_type
        self.output_type = "latent"
        try:
            if not shapes:
                started = time.monotonic()
                self.generate(base, lambda _step, _total: None)
                log.info("warm-up generation took %.2fs", time.monotonic() - started)
                return
            for width, height, frames in self.warmup_shapes(shapes):
                params = self.within_profile(
                    dataclasses.replace(
                        base,
                        width=width,
                        height=height,
                        num_frames=frames,
                        num_inference_steps=1,
                        guidance_scale=5.0,
                    )
                )
                started = time.monotonic()
                self.generate(params, lambda _step, _total: None)
                log.info(
                    "warm-up at %dx%d, %d frames (%d tokens): %.2fs",
                    width,
                    height,
                    frames,
                    tokens_for(width, height, frames),
                    time.monotonic() - started,
                )
        finally:
            self.output_type = saved

    def warmup_shapes(self, shapes: tuple[tuple[int, int, int], ...]) -> list[tuple[int, int, int]]:
        """One shape per token count (the first of each), in the order given; a shape the engine
        would refuse (``warmup_refusal``) is left out and logged."""
        chosen: dict[int, tuple[int, int, int]] = {}
        for width, height, frames in shapes:
            tokens = tokens_for(width, height, frames)
            if tokens in chosen:
                continue
            refusal = self.warmup_refusal(width, height, frames)
            if refusal:
                log.warning("warm-up skips %dx%dx%d: %s", width, height, frames, refusal)
                continue
            chosen[tokens] = (width, height, frames)
        return list(chosen.values())

    def warmup_refusal(self, width: int, height: int, frames: int) -> str | None:
        """Why a job of this shape would be refused (a worker group adds its own reasons)."""
        return None

    def run_report(self, params: GenerateParams) -> dict[str, Any]:
        report = self.accelerator.report(params.num_inference_steps, params.guidance_scale)
        return {**report, "weights": self.config.transformer_weights}

    def free_memory(self) -> None:
        gc.collect()
        torch = self.torch
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.empty_cache()

    def gpu_memory(self) -> tuple[int | None, int | None]:
        torch = self.torch
        if torch is None or not self.device.startswith("cuda") or not torch.cuda.is_initialized():
            return None, None
        try:
            used = int(torch.cuda.memory_reserved())
            total = int(torch.cuda.get_device_properties(0).total_memory)
            return used, total
        except Exception:  # noqa: BLE001 - a heartbeat must never fail
            return None, None


def image_pipeline_from(pipe: Any) -> Any:
    """diffusers' ``WanImageToVideoPipeline`` over ``pipe``'s own component objects, or None.

    Built with the constructor, not ``from_pipe``: ``from_pipe`` ends with ``.to(dtype)`` on the
    new pipeline, which would cast the shared modules in place (the bfloat16 transformer to
    float32 by default, or the float32 VAE to bfloat16). The constructor only registers the
    modules, so the two pipelines hold the same tensors (``tests/test_image_to_video.py`` checks
    every parameter's storage). Only a model with ``expand_timesteps`` (Wan2.2 TI2V-5B) takes an
    image this way; Wan2.1-style text models need an image transformer of their own.
    """
    if not pipe.config.get("expand_timesteps", False):
        return None
    from diffusers import WanImageToVideoPipeline

    i2v = WanImageToVideoPipeline(
        tokenizer=pipe.tokenizer,
        text_encoder=pipe.text_encoder,
        vae=pipe.vae,
        scheduler=pipe.scheduler,
        image_processor=None,
        image_encoder=None,
        transformer=pipe.transformer,
        transformer_2=getattr(pipe, "transformer_2", None),
        boundary_ratio=pipe.config.get("boundary_ratio"),
        expand_timesteps=True,
    )
    i2v.set_progress_bar_config(disable=True)
    return i2v

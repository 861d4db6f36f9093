"""``wan-tiny``: the real WanPipeline code path on tiny random-initialised components.

Nothing is downloaded: the transformer and VAE use the small Wan 2.2 5B-style configs that
diffusers' own pipeline tests use (48 latent channels, residual VAE with 2×2 patching,
``expand_timesteps=True``), the text encoder is a 2-layer UMT5 built from a config, and the
tokenizer is a word-level ``tokenizers`` model built here. The weights are random, so the video
is noise. It exists to exercise loading, stepping, cancellation, encoding and the protocol on a
CPU in seconds.
"""

from __future__ import annotations

import logging
from typing import Any

from ..card import ModelInfo, Ranges
from ..params import EngineLimits, GenerateParams
from ..profile import ModelProfile, Range
from .base import WanPipelineEngine

log = logging.getLogger(__name__)

TEXT_DIM = 32
SEED = 0

# A small fixed vocabulary: enough that ordinary prompts map to more than <unk>.
_WORDS = (
    "a an the of in on at to and with by for from is are cat dog bird fish horse car city "
    "street rain snow sun moon night day sky sea river forest mountain beach house room man "
    "woman child people dancing running walking flying swimming slow fast red green blue "
    "yellow white black bright dark tiny big old new camera shot close wide aerial video"
).split()


def build_tokenizer() -> Any:
    """A word-level fast tokenizer: lowercase, split on whitespace and punctuation, </s> appended."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "</s>", "<unk>"]
    vocab = {token: i for i, token in enumerate(specials + list(dict.fromkeys(_WORDS)))}
    tok = Tokenizer(WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", vocab["</s>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )


def build_components(torch: Any) -> dict[str, Any]:
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    tokenizer = build_tokenizer()
    torch.manual_seed(SEED)
    text_encoder = UMT5EncoderModel(
        UMT5Config(
            vocab_size=64 * ((len(tokenizer) + 63) // 64),
            d_model=TEXT_DIM,
            d_kv=8,
            d_ff=64,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            dropout_rate=0.0,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    )
    torch.manual_seed(SEED)
    vae = AutoencoderKLWan(
        base_dim=3,
        z_dim=48,
        in_channels=12,
        out_channels=12,
        is_residual=True,
        patch_size=2,
        latents_mean=[0.0] * 48,
        latents_std=[1.0] * 48,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        scale_factor_spatial=16,
        scale_factor_temporal=4,
        temperal_downsample=[False, True, True],
    )
    torch.manual_seed(SEED)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=48,
        out_channels=48,
        text_dim=TEXT_DIM,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
    )
    scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
    )
    for model in (text_encoder, vae, transformer):
        model.eval()
    return {
        "tokenizer": tokenizer,
        "text_encoder": text_encoder,
        "vae": vae,
        "scheduler": scheduler,
        "transformer": transformer,
    }


# Its defaults: 128×128 (and three more small sizes), 2 s at 8 fps = 17 frames, 4 steps.
WAN_TINY = ModelProfile(
    id=None,
    description=None,
    num_inference_steps=Range(min=1, max=50, default=4),
    guidance_scale=Range(min=0, max=20, default=5),
    flow_shift=None,
    source="built-in (wan-tiny)",
    fps=8,
    num_frames=17,
    sizes=((128, 128), (256, 128), (128, 256), (256, 256)),
)


class WanTinyEngine(WanPipelineEngine):
    name = "wan-tiny"
    info = ModelInfo(
        id="wan-tiny-random",
        description=(
            "The Wan pipeline with tiny random weights: exercises the real code path on CPU; output is noise."
        ),
        owned_by="t2v",
        created=1764288000,
    )
    # rope_max_seq_len=32 positions per axis bounds the size: 512 px = 16 tokens, 65 frames = 17.
    limits = EngineLimits(max_side=512, max_pixels=512 * 512, max_frames=65, max_steps=50)
    ranges = Ranges(fps=(1, 30), seconds=(1, 8))
    default_profile = WAN_TINY
    max_sequence_length = 32

    def build_pipeline(self) -> Any:
        from diffusers import WanPipeline

        torch = self.torch
        components = build_components(torch)
        pipe = WanPipeline(
            tokenizer=components["tokenizer"],
            text_encoder=components["text_encoder"],
            vae=components["vae"],
            scheduler=components["scheduler"],
            transformer=components["transformer"],
            transformer_2=None,
            expand_timesteps=True,
        )
        pipe.to(self.device)
        log.info("wan-tiny: random-initialised components (no download); its videos are noise by design")
        return pipe

    def base_warmup_params(self) -> GenerateParams:
        return GenerateParams(
            prompt="warm up",
            negative_prompt=None,
            width=64,
            height=64,
            num_frames=5,
            fps=8,
            num_inference_steps=1,
            guidance_scale=1.0,
            seed=0,
            flow_shift=None,
        )

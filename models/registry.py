"""Named model configurations and `create_model`.

Clean names spell the model out (`lgi_former_base_patch16_160`); the upstream MAE-DFER names are kept
as aliases that also accept the upstream keyword arguments, so upstream configurations keep working.
`create_model` records the resolved configuration on `model.model_config`; checkpoints store it, so a
model can be rebuilt from its file alone.
"""

import re

from .lgi_former import LGIFormerClassifier, LGIFormerEncoder
from .mae import MaskedAutoencoder
from .vit import VisionTransformerClassifier, VisionTransformerEncoder

_MODELS = {}

SIZES = {
    # embed_dim, depth, num_heads
    "lgi_base": dict(embed_dim=512, depth=16, num_heads=8),
    "lgi_small": dict(embed_dim=256, depth=8, num_heads=4),
    "lgi_tiny": dict(embed_dim=128, depth=4, num_heads=4),
    "vit_base": dict(embed_dim=768, depth=12, num_heads=12),
}
DECODERS = {
    "base": dict(decoder_embed_dim=384, decoder_depth=4, decoder_num_heads=6),
    "small": dict(decoder_embed_dim=192, decoder_depth=2, decoder_num_heads=3),
    "tiny": dict(decoder_embed_dim=128, decoder_depth=2, decoder_num_heads=4),
}
LGI_DEFAULTS = dict(img_size=160, patch_size=16, num_frames=16, tubelet_size=2, region_size=(2, 5, 10))
SMALL_INPUT = dict(img_size=64, region_size=(8, 2, 4))
VIT_DEFAULTS = dict(img_size=160, patch_size=16, num_frames=16, tubelet_size=2)


_FAMILIES = {}  # model name -> "lgi" or "vit" (its encoder when no attn_type is given)


def register_model(family):
    def register(fn):
        _MODELS[fn.__name__] = fn
        _FAMILIES[fn.__name__] = family
        return fn

    return register


def model_family(name, attn_type=None):
    """'lgi' or 'vit': which encoder `create_model(name, attn_type=...)` builds (LGI-only options need 'lgi')."""
    if name not in _FAMILIES:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(list_models())}")
    return {"local_global": "lgi", "joint": "vit"}.get(attn_type, _FAMILIES[name])


def list_models():
    return sorted(_MODELS)


def create_model(name, **kwargs):
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(list_models())}")
    try:
        model = _MODELS[name](**kwargs)
    except TypeError as err:  # an option this model does not have
        raise ValueError(f"{name}: {err}") from None
    model.model_config = {"name": name, **kwargs}
    return model


WRAPPER_KEYS = {
    "decoder_embed_dim",
    "decoder_depth",
    "decoder_num_heads",
    "decoder_pos_order",
    "normalize_target",
    "frame_diff_target",
    "motion_weight",
}
# Regularisers and block options that upstream passes to both encoder and decoder.
SHARED_KEYS = {"mlp_ratio", "qkv_bias", "qk_scale", "drop_rate", "attn_drop_rate", "drop_path_rate", "norm_eps"}


def _build(kind, size, decoder=None, **kwargs):
    """kind 'lgi' or 'vit'; decoder None builds a classifier, else an MAE with that decoder size."""
    defaults = {**(LGI_DEFAULTS if kind == "lgi" else VIT_DEFAULTS), **SIZES[size]}
    if decoder is None:
        cls = LGIFormerClassifier if kind == "lgi" else VisionTransformerClassifier
        return cls(**{**defaults, **kwargs})
    wrapper = {**DECODERS[decoder], **{k: v for k, v in kwargs.items() if k in WRAPPER_KEYS | SHARED_KEYS}}
    encoder_cls = LGIFormerEncoder if kind == "lgi" else VisionTransformerEncoder
    encoder = encoder_cls(**{**defaults, **{k: v for k, v in kwargs.items() if k not in WRAPPER_KEYS}})
    return MaskedAutoencoder(encoder, **wrapper)


@register_model("lgi")
def lgi_former_base_patch16_160(**kwargs):
    """The paper's LGI-Former: 512-d, 16 blocks, 8 heads, 8 regions of 2x5x10 tokens; 84.9 M params."""
    return _build("lgi", "lgi_base", **kwargs)


@register_model("lgi")
def lgi_former_small_patch16_160(**kwargs):
    """256-d, 8 blocks, 4 heads: a CPU-friendly LGI-Former at the real 16x160x160 input."""
    return _build("lgi", "lgi_small", **kwargs)


@register_model("lgi")
def lgi_former_tiny_patch16_160(**kwargs):
    """128-d, 4 blocks, 4 heads: trains on 2 CPU cores in minutes (the quick start's model)."""
    return _build("lgi", "lgi_tiny", **kwargs)


@register_model("lgi")
def lgi_former_tiny_patch16_64(**kwargs):
    """The tiny LGI-Former on 16x64x64 face crops: an 8x4x4 token grid in 2 regions of 8x2x4 tokens (the top and
    the bottom half of the face over the whole clip), so local attention compares the start and the end of a clip
    directly; two-token regions did not learn from scratch. The quick start runs it on 8 frames with
    `region_size=(4, 2, 4)` (docs/quickstart.md)."""
    return _build("lgi", "lgi_tiny", **{**SMALL_INPUT, **kwargs})


@register_model("vit")
def videomae_vit_base_patch16_160(**kwargs):
    """VideoMAE ViT-B baseline with joint space-time attention: 768-d, 12 blocks; 86.2 M params."""
    return _build("vit", "vit_base", **kwargs)


@register_model("lgi")
def pretrain_lgi_former_base_patch16_160(**kwargs):
    """MAE-DFER pretraining model: LGI-Former base encoder, 384-d 4-block decoder; 92.8 M params."""
    return _build("lgi", "lgi_base", "base", **kwargs)


@register_model("lgi")
def pretrain_lgi_former_small_patch16_160(**kwargs):
    return _build("lgi", "lgi_small", "small", **kwargs)


@register_model("lgi")
def pretrain_lgi_former_tiny_patch16_160(**kwargs):
    return _build("lgi", "lgi_tiny", "tiny", **kwargs)


@register_model("lgi")
def pretrain_lgi_former_tiny_patch16_64(**kwargs):
    return _build("lgi", "lgi_tiny", "tiny", **{**SMALL_INPUT, **kwargs})


@register_model("vit")
def pretrain_videomae_vit_base_patch16_160(**kwargs):
    """VideoMAE pretraining with the ViT-B encoder and the same decoder; 94.2 M params."""
    return _build("vit", "vit_base", "base", **kwargs)


# ---- upstream names and keyword arguments -------------------------------------------------------

# Upstream keyword -> our keyword.
_RENAMES = {
    "all_frames": "num_frames",
    "lg_region_size": "region_size",
    "lg_classify_token_type": "pooling",
    "use_checkpoint": "grad_checkpointing",
    "encoder_in_chans": "in_chans",
    "encoder_embed_dim": "embed_dim",
    "encoder_depth": "depth",
    "encoder_num_heads": "num_heads",
}
# Upstream options we accept only at the value every released model used.
_FIXED = {
    "init_values": (0.0, None),
    "use_learnable_pos_emb": (False,),
    "use_mean_pooling": (True,),
    "keep_temporal_dim": (False,),
    "head_activation_func": (None,),
    "lg_first_attn_type": ("self",),
    "lg_third_attn_type": ("cross",),
    "lg_attn_param_sharing_first_third": (False,),
    "lg_attn_param_sharing_all": (False,),
    "lg_no_second": (False,),
    "lg_no_third": (False,),
    "encoder_num_classes": (0,),
    "fc_drop_rate": (0.0,),
}
# Passed by timm's create_model or by upstream argparse but meaningless here.
_IGNORED = {"pretrained", "pretrained_cfg", "pretrained_cfg_overlay", "drop_block_rate"}


def _parse_norm_layer(value):
    """Upstream norm_layer, e.g. the string 'LayerNorm(eps=1e-6)' or a partial(nn.LayerNorm, eps=...)."""
    eps = getattr(value, "keywords", {}).get("eps") if not isinstance(value, str) else None
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(?:nn\.)?LayerNorm\((?:eps\s*=\s*)?([0-9.eE+-]+)\)\s*", value)
        eps = float(match.group(1)) if match else None
    if eps is None:
        raise ValueError(f"unsupported upstream norm_layer {value!r}; expected LayerNorm(eps=...)")
    return eps


def translate_upstream_kwargs(kwargs, pretrain, default_attn_type):
    """Upstream keyword arguments -> (attn_type, our keyword arguments). Refuses what we do not build."""
    out, attn_type = {}, default_attn_type
    for key, value in kwargs.items():
        if key in _IGNORED:
            continue
        if key == "attn_type":
            if value not in ("local_global", "joint"):
                raise ValueError(f"unsupported upstream attn_type {value!r}; supported: 'local_global', 'joint'")
            attn_type = value
        elif key in _FIXED:
            if value not in _FIXED[key]:
                raise ValueError(f"upstream option {key}={value!r} is not supported (only {_FIXED[key][0]!r})")
        elif key == "norm_layer":
            out["norm_eps"] = _parse_norm_layer(value)
        elif key == "num_classes" and pretrain:
            continue  # the upstream pretraining wrapper takes and ignores num_classes
        elif key == "decoder_num_classes":
            tubelet = kwargs.get("tubelet_size", 2)
            patch = kwargs.get("patch_size", 16)
            if value != 3 * tubelet * patch**2:
                raise ValueError(f"decoder_num_classes must be 3 * tubelet * patch^2 = {3 * tubelet * patch**2}")
        elif key == "lg_region_size":
            out["region_size"] = tuple(value)
        else:
            out[_RENAMES.get(key, key)] = value
    if attn_type == "joint":
        for key in ("region_size", "pooling"):
            out.pop(key, None)
    return attn_type, out


def _upstream_model(pretrain, size, default_attn_type, **kwargs):
    attn_type, ours = translate_upstream_kwargs(kwargs, pretrain, default_attn_type)
    kind = "lgi" if attn_type == "local_global" else "vit"
    return _build(kind, size, "base" if pretrain else None, **ours)


@register_model("lgi")
def vit_base_dim512_no_depth_patch16_160(**kwargs):
    """Upstream fine-tune name (512-d, 8 heads); depth defaults to 16, as every upstream script sets."""
    return _upstream_model(False, "lgi_base", "local_global", **kwargs)


@register_model("vit")
def vit_base_patch16_160(**kwargs):
    """Upstream ViT-B fine-tune name (768-d, 12 blocks, 12 heads), joint attention by default."""
    return _upstream_model(False, "vit_base", "joint", **kwargs)


@register_model("lgi")
def pretrain_videomae_base_dim512_no_depth_patch16_160(**kwargs):
    """Upstream MAE-DFER pretraining name; encoder_depth defaults to 16, decoder 384-d x 4 x 6 heads."""
    return _upstream_model(True, "lgi_base", "local_global", **kwargs)


@register_model("vit")
def pretrain_videomae_base_patch16_160(**kwargs):
    """Upstream VideoMAE ViT-B pretraining name."""
    return _upstream_model(True, "vit_base", "joint", **kwargs)


UPSTREAM_CLASSES = {
    "VisionTransformer": False,  # modeling_finetune.VisionTransformer
    "PretrainVisionTransformer": True,  # modeling_pretrain.PretrainVisionTransformer
}


def from_upstream_config(config):
    """Build a model from an upstream constructor description: {'class': ..., **upstream kwargs}.

    The class is `modeling_finetune.VisionTransformer` or `modeling_pretrain.PretrainVisionTransformer`;
    every architecture size comes from the kwargs, nothing from a preset.
    """
    class_name = str(config.get("class", "")).rsplit(".", 1)[-1]
    if class_name not in UPSTREAM_CLASSES:
        raise ValueError(f"unknown upstream class {config.get('class')!r}; known: {', '.join(UPSTREAM_CLASSES)}")
    pretrain = UPSTREAM_CLASSES[class_name]
    kwargs = {k: v for k, v in config.items() if k != "class"}
    attn_type, ours = translate_upstream_kwargs(kwargs, pretrain, "joint")
    kind = "lgi" if attn_type == "local_global" else "vit"
    size = "lgi_base" if kind == "lgi" else "vit_base"
    model = _build(kind, size, "base" if pretrain else None, **ours)
    model.model_config = {"upstream": dict(config)}
    return model


def model_from_config(config):
    """Rebuild a model from the `model_config` a checkpoint stores."""
    if "upstream" in config:
        return from_upstream_config(config["upstream"])
    return create_model(config["name"], **{k: v for k, v in config.items() if k != "name"})

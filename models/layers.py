"""Building blocks shared by LGI-Former, the ViT baseline and the MAE decoder.

Axis legend used in shape comments: B batch, M regions, S tokens per region sequence,
N tokens, C channels, H heads, D head dim, T frames.
"""

import math

import torch
import torch.nn.functional as F
from timm.layers import DropPath, trunc_normal_
from torch import nn

__all__ = [
    "DropPath",
    "PatchEmbed",
    "Mlp",
    "Attention",
    "CrossAttention",
    "Block",
    "ClassifierHead",
    "init_finetune_weights",
    "init_pretrain_weights",
    "count_visible",
    "split_by_mask",
    "sinusoid_table",
]


def sinusoid_table(num_positions: int, dim: int) -> torch.Tensor:
    """Fixed 1-D sinusoid table over flattened token indices, (1, N, C).

    Channel j of position p uses angle p / 10000^(2 * (j // 2) / C): sin on even channels,
    cos on odd ones (interleaved). Computed in float64 and cast to float32, as upstream.
    """
    position = torch.arange(num_positions, dtype=torch.float64)[:, None]
    exponent = 2 * (torch.arange(dim) // 2).to(torch.float64) / dim
    angles = position / torch.pow(torch.tensor(10000.0, dtype=torch.float64), exponent)  # N, C
    table = torch.empty_like(angles)
    table[:, 0::2] = torch.sin(angles[:, 0::2])
    table[:, 1::2] = torch.cos(angles[:, 1::2])
    return table.float()[None]


class PatchEmbed(nn.Module):
    """Video to tokens: Conv3d with kernel = stride = (tubelet, patch, patch), tokens in (t, h, w) raster order."""

    def __init__(self, img_size=160, patch_size=16, in_chans=3, embed_dim=512, num_frames=16, tubelet_size=2):
        super().__init__()
        if img_size % patch_size or num_frames % tubelet_size:
            raise ValueError(
                f"img_size {img_size} must be divisible by patch_size {patch_size} and num_frames "
                f"{num_frames} by tubelet_size {tubelet_size}"
            )
        self.input_shape = (in_chans, num_frames, img_size, img_size)
        self.grid_size = (num_frames // tubelet_size, img_size // patch_size, img_size // patch_size)
        self.num_patches = math.prod(self.grid_size)
        self.patch_size = patch_size
        self.tubelet_size = tubelet_size
        self.proj = nn.Conv3d(
            in_chans,
            embed_dim,
            kernel_size=(tubelet_size, patch_size, patch_size),
            stride=(tubelet_size, patch_size, patch_size),
        )

    def forward(self, x):  # B, 3, T, H, W -> B, N, C
        if x.ndim != 5 or tuple(x.shape[1:]) != self.input_shape:
            expected = "(B, " + ", ".join(map(str, self.input_shape)) + ")"
            raise ValueError(f"expected a clip of shape {expected}, got {tuple(x.shape)}")
        return self.proj(x).flatten(2).transpose(1, 2)


class Mlp(nn.Module):
    """fc1 -> GELU (erf) -> fc2 -> dropout."""

    def __init__(self, dim, hidden_dim, drop=0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x):
        return self.drop(self.fc2(self.act(self.fc1(x))))


class _AttentionBase(nn.Module):
    """Shared parts of self- and cross-attention: q/v biases (k has none), output projection, SDPA."""

    def __init__(self, dim, num_heads, qkv_bias, qk_scale, attn_drop, proj_drop):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.scale = qk_scale or (dim // num_heads) ** -0.5
        if qkv_bias:
            self.q_bias = nn.Parameter(torch.zeros(dim))
            self.v_bias = nn.Parameter(torch.zeros(dim))
        else:
            self.q_bias = self.v_bias = None
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def _attend(self, q, k, v):  # each B, H, N, D -> B, N, C
        drop = self.attn_drop if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, scale=self.scale)
        return self.proj_drop(self.proj(out.transpose(1, 2).flatten(2)))


class Attention(_AttentionBase):
    """Multi-head self-attention with one fused qkv projection (rows q, k, v) and bias [q_bias, 0, v_bias]."""

    def __init__(self, dim, num_heads=8, qkv_bias=False, qk_scale=None, attn_drop=0.0, proj_drop=0.0):
        super().__init__(dim, num_heads, qkv_bias, qk_scale, attn_drop, proj_drop)
        self.qkv = nn.Linear(dim, dim * 3, bias=False)

    def forward(self, x):  # B, N, C
        bias = None
        if self.q_bias is not None:
            bias = torch.cat([self.q_bias, torch.zeros_like(self.v_bias), self.v_bias])
        qkv = F.linear(x, self.qkv.weight, bias)  # B, N, 3C
        q, k, v = qkv.unflatten(-1, (3, self.num_heads, -1)).permute(2, 0, 3, 1, 4)  # 3 x (B, H, N, D)
        return self._attend(q, k, v)


class CrossAttention(_AttentionBase):
    """Multi-head attention with separate q and kv projections; self-attention when no context is given.

    Upstream calls it `GeneralAttention`; the kv rows are ordered [k; v] with bias [0, v_bias].
    """

    def __init__(self, dim, num_heads=8, qkv_bias=False, qk_scale=None, attn_drop=0.0, proj_drop=0.0):
        super().__init__(dim, num_heads, qkv_bias, qk_scale, attn_drop, proj_drop)
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(dim, dim * 2, bias=False)

    def forward(self, x, context=None):  # x: B, N, C; context: B, L, C
        context = x if context is None else context
        kv_bias = None
        if self.v_bias is not None:
            kv_bias = torch.cat([torch.zeros_like(self.v_bias), self.v_bias])
        q = F.linear(x, self.q.weight, self.q_bias).unflatten(-1, (self.num_heads, -1)).transpose(1, 2)
        kv = F.linear(context, self.kv.weight, kv_bias)  # B, L, 2C
        k, v = kv.unflatten(-1, (2, self.num_heads, -1)).permute(2, 0, 3, 1, 4)  # 2 x (B, H, L, D)
        return self._attend(q, k, v)


class Block(nn.Module):
    """Pre-norm transformer block with joint self-attention (the VideoMAE ViT block)."""

    def __init__(
        self,
        dim,
        num_heads,
        mlp_ratio=4.0,
        qkv_bias=False,
        qk_scale=None,
        drop=0.0,
        attn_drop=0.0,
        drop_path=0.0,
        norm_eps=1e-6,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias, qk_scale, attn_drop, drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)

    def forward(self, x):  # B, N, C
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def init_finetune_weights(module):
    """Fine-tune init: Linear trunc-normal (std 0.02), zero biases, LayerNorm (1, 0)."""
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def init_pretrain_weights(module):
    """Pretraining init: Linear xavier-uniform, zero biases, LayerNorm (1, 0)."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class ClassifierHead:
    """Mixin for classifiers: pooled features -> fc_norm -> head (weights scaled by init_scale).

    Kept as a mixin so `fc_norm` and `head` sit at the top level of the state dict, as upstream.
    """

    def _build_head(self, num_classes, norm_eps, init_scale):
        self.fc_norm = nn.LayerNorm(self.embed_dim, eps=norm_eps)
        self.head = nn.Linear(self.embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        self.apply(init_finetune_weights)
        if num_classes > 0:
            with torch.no_grad():
                self.head.weight.mul_(init_scale)
                self.head.bias.mul_(init_scale)

    def forward_head(self, features, pre_logits=False):  # B, C -> B, num_classes
        features = self.fc_norm(features)
        return features if pre_logits else self.head(features)


def count_visible(mask, num_tokens, groups=None, groups_name="token groups"):
    """Visible tokens per clip of a (B, N) bool mask (True = masked); the same for every clip or ValueError.

    groups (G, K): token indices of G equal groups (the LGI regions); then every group must also keep the
    same number of visible tokens in every clip. All checks share one host sync.
    """
    if mask.ndim != 2 or mask.shape[1] != num_tokens:
        raise ValueError(f"mask must be (B, {num_tokens}) with True = masked, got {tuple(mask.shape)}")
    visible = ~mask
    counts = [visible.sum(1)]  # B
    if groups is not None:
        counts.append(visible[:, groups].sum(-1))  # B, G
    low_high = torch.stack([f(c) for c in counts for f in (torch.min, torch.max)]).tolist()  # the one sync
    if low_high[0] != low_high[1]:
        raise ValueError("every clip in a batch must have the same number of visible tokens")
    if groups is not None and low_high[2] != low_high[3]:
        raise ValueError(f"mask leaves an unequal number of visible tokens in the {groups_name}")
    return low_high[0]


def split_by_mask(mask, num_visible):
    """Raster indices of the visible tokens (B, V) and of the masked ones (B, N - V), without a host sync.

    mask: (B, N) bool, True = masked, with `num_visible` visible tokens in every clip (see count_visible).
    """
    order = mask.to(torch.uint8).argsort(dim=1, stable=True)  # visible first, each part in raster order
    return order[:, :num_visible], order[:, num_visible:]

"""LGI-Former: local intra-region attention, global attention among region tokens, local-global interaction.

The token grid (t, h, w) is cut into M regions of size (rt, rh, rw). Each region becomes one sequence
[region token, its local tokens in raster order], so the encoder works on (B, M, S, C) tensors.
Parameter names follow upstream MAE-DFER so released checkpoints load key by key.
"""

import torch
from timm.layers import trunc_normal_
from torch import nn
from torch.utils.checkpoint import checkpoint

from .layers import (
    ClassifierHead,
    CrossAttention,
    DropPath,
    Mlp,
    PatchEmbed,
    count_visible,
    init_pretrain_weights,
    sinusoid_table,
)


def region_index(grid_size, region_size) -> torch.Tensor:
    """Region id of every token in raster order, (N,). Regions are numbered (t, h, w) raster too."""
    if any(g % r for g, r in zip(grid_size, region_size, strict=True)):
        raise ValueError(f"token grid {tuple(grid_size)} is not divisible by region size {tuple(region_size)}")
    coords = torch.meshgrid(*(torch.arange(g) for g in grid_size), indexing="ij")
    nt, nh, nw = (g // r for g, r in zip(grid_size, region_size, strict=True))
    rt, rh, rw = region_size
    t, h, w = (c.flatten() for c in coords)
    return ((t // rt) * nh + h // rh) * nw + w // rw


class LGIBlock(nn.Module):
    """One LGI-Former block (upstream `LGBlock`), applied to (B, M, S, C) with the region token at s = 0.

    1. local self-attention inside each region (region token + local tokens);
    2. global self-attention among the M region tokens of a video;
    3. local-global cross-attention: all local tokens query the updated region tokens;
    4. one shared MLP over all tokens.
    DropPath samples per (video, region) in stages 1 and 4 and per video in 2 and 3, as upstream.
    """

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

        def attention():
            return CrossAttention(dim, num_heads, qkv_bias, qk_scale, attn_drop, drop)

        self.first_attn_norm0 = nn.LayerNorm(dim, eps=norm_eps)
        self.first_attn = attention()
        self.second_attn_norm0 = nn.LayerNorm(dim, eps=norm_eps)
        self.second_attn = attention()
        self.third_attn_norm0 = nn.LayerNorm(dim, eps=norm_eps)
        self.third_attn_norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.third_attn = attention()
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)

    def forward(self, x):  # B, M, S, C
        B, M, S, C = x.shape
        x = x.flatten(0, 1)  # B*M, S, C
        x = x + self.drop_path(self.first_attn(self.first_attn_norm0(x)))
        x = x.view(B, M, S, C)

        region = x[:, :, 0]  # B, M, C
        region = region + self.drop_path(self.second_attn(self.second_attn_norm0(region)))

        local = x[:, :, 1:].reshape(B, M * (S - 1), C)  # B, M*(S-1), C
        context = self.third_attn_norm1(region)
        local = local + self.drop_path(self.third_attn(self.third_attn_norm0(local), context))

        x = torch.cat([region[:, :, None], local.view(B, M, S - 1, C)], dim=2).flatten(0, 1)  # B*M, S, C
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x.view(B, M, S, C)


class LGIFormer(nn.Module):
    """The LGI-Former trunk: patch embedding, sinusoid positions, region tokens and LGI blocks.

    `forward_features(x, mask)` groups the (visible) tokens region by region and returns the
    block output (B, M, S, C) plus `order` (B, S-1 per region * M): the raster index of every
    local token in the order the encoder holds them (region-major, raster inside a region).
    """

    def __init__(
        self,
        img_size=160,
        patch_size=16,
        in_chans=3,
        num_frames=16,
        tubelet_size=2,
        embed_dim=512,
        depth=16,
        num_heads=8,
        mlp_ratio=4.0,
        qkv_bias=True,
        qk_scale=None,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.0,
        norm_eps=1e-6,
        region_size=(2, 5, 10),
        grad_checkpointing=False,
    ):
        super().__init__()
        self.embed_dim = embed_dim
        self.region_size = tuple(region_size)
        self.grad_checkpointing = grad_checkpointing
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim, num_frames, tubelet_size)
        grid = self.patch_embed.grid_size
        regions = region_index(grid, self.region_size)  # N
        self.num_regions = int(regions.max()) + 1
        self.register_buffer("pos_embed", sinusoid_table(self.patch_embed.num_patches, embed_dim), persistent=False)
        self.register_buffer("token_region", regions, persistent=False)
        self.register_buffer("region_order", self._order_key(regions).argsort(), persistent=False)
        self.pos_drop = nn.Dropout(drop_rate)
        self.lg_region_tokens = nn.Parameter(torch.zeros(self.num_regions, embed_dim))  # M, C
        dpr = torch.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList(
            [
                LGIBlock(embed_dim, num_heads, mlp_ratio, qkv_bias, qk_scale, drop_rate, attn_drop_rate, d, norm_eps)
                for d in dpr
            ]
        )

    @staticmethod
    def _order_key(regions):
        """Sort key that puts tokens region-major, raster order inside a region."""
        return regions * regions.numel() + torch.arange(regions.numel(), device=regions.device)

    def visible_order(self, mask):
        """Raster indices of the visible tokens, grouped region by region, (B, V).

        Every region must hold the same number of visible tokens in every sample; the part-window
        mask guarantees this. Other masks are refused instead of being silently mis-grouped.
        """
        if mask is None:
            return self.region_order[None]
        num_visible = count_visible(
            mask,
            self.token_region.numel(),
            groups=self.region_order.view(self.num_regions, -1),
            groups_name=f"LGI regions (region size {self.region_size}); use the part-window tube mask",
        )
        key = torch.where(mask, self.token_region.numel() ** 2, self._order_key(self.token_region))
        return key.argsort(dim=1)[:, :num_visible]

    def forward_features(self, x, mask=None):  # x: B, 3, T, H, W -> (B, M, S, C), order (B or 1, V)
        x = self.pos_drop(self.patch_embed(x) + self.pos_embed)  # B, N, C
        B, _, C = x.shape
        order = self.visible_order(mask)  # B or 1, V
        x = x.gather(1, order[..., None].expand(B, -1, C))  # B, V, C
        x = x.view(B, self.num_regions, -1, C)  # B, M, S-1, C
        region = self.lg_region_tokens.expand(B, -1, -1)[:, :, None]  # B, M, 1, C
        x = torch.cat([region, x], dim=2)  # B, M, S, C
        for block in self.blocks:
            if self.grad_checkpointing and self.training:
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return x, order


class LGIFormerClassifier(ClassifierHead, LGIFormer):
    """LGI-Former for classification (upstream `VisionTransformer` with attn_type 'local_global').

    pooling: 'region' averages the M region tokens (the scripts' setting), 'org' the N local tokens,
    'all' both.
    """

    POOLINGS = ("region", "org", "all")

    def __init__(self, num_classes=7, pooling="region", init_scale=0.001, norm_eps=1e-6, **kwargs):
        super().__init__(norm_eps=norm_eps, **kwargs)
        if pooling not in self.POOLINGS:
            raise ValueError(f"pooling must be one of {self.POOLINGS}, got {pooling!r}")
        self.pooling = pooling
        self.num_classes = num_classes
        trunc_normal_(self.lg_region_tokens, std=0.02)
        self._build_head(num_classes, norm_eps, init_scale)

    def forward(self, x):  # B, 3, T, H, W -> B, num_classes
        x, _ = self.forward_features(x)  # B, M, S, C
        if self.pooling == "region":
            tokens = x[:, :, 0]  # B, M, C
        elif self.pooling == "org":
            tokens = x[:, :, 1:].flatten(1, 2)  # B, M*(S-1), C
        else:
            tokens = x.flatten(1, 2)  # B, M*S, C
        return self.forward_head(tokens.mean(1))

    def no_weight_decay(self):
        return {"lg_region_tokens"}


class LGIFormerEncoder(LGIFormer):
    """LGI-Former as the MAE encoder: visible tokens in, normalised local tokens out (region-major)."""

    def __init__(self, norm_eps=1e-6, **kwargs):
        super().__init__(norm_eps=norm_eps, **kwargs)
        self.norm = nn.LayerNorm(self.embed_dim, eps=norm_eps)
        self.apply(init_pretrain_weights)
        bound = 0.02
        trunc_normal_(self.lg_region_tokens, std=0.02, a=-bound, b=bound)

    @property
    def num_patches(self):
        return self.patch_embed.num_patches

    def forward(self, x, mask):  # -> tokens B, V, C (region-major), order B, V (their raster indices)
        x, order = self.forward_features(x, mask)  # B, M, S, C
        tokens = x[:, :, 1:].flatten(1, 2)  # B, V, C
        return self.norm(tokens), order.expand(x.shape[0], -1)

    def no_weight_decay(self):
        return {"lg_region_tokens"}

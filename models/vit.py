"""VideoMAE ViT baseline: joint space-time attention over all tokens (upstream attn_type 'joint')."""

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .layers import (
    Block,
    ClassifierHead,
    PatchEmbed,
    count_visible,
    init_pretrain_weights,
    sinusoid_table,
    split_by_mask,
)


class VisionTransformer(nn.Module):
    """ViT trunk: patch embedding, sinusoid positions, plain transformer blocks.

    `forward_features(x, mask)` keeps the visible tokens in raster order and returns them,
    (B, V, C), with their raster indices `order` (B or 1, V).
    """

    def __init__(
        self,
        img_size=160,
        patch_size=16,
        in_chans=3,
        num_frames=16,
        tubelet_size=2,
        embed_dim=768,
        depth=12,
        num_heads=12,
        mlp_ratio=4.0,
        qkv_bias=True,
        qk_scale=None,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.0,
        norm_eps=1e-6,
        grad_checkpointing=False,
    ):
        super().__init__()
        self.embed_dim = embed_dim
        self.grad_checkpointing = grad_checkpointing
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim, num_frames, tubelet_size)
        num_patches = self.patch_embed.num_patches
        self.register_buffer("pos_embed", sinusoid_table(num_patches, embed_dim), persistent=False)
        self.register_buffer("token_order", torch.arange(num_patches), persistent=False)
        self.pos_drop = nn.Dropout(drop_rate)
        dpr = torch.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList(
            [
                Block(embed_dim, num_heads, mlp_ratio, qkv_bias, qk_scale, drop_rate, attn_drop_rate, d, norm_eps)
                for d in dpr
            ]
        )

    def visible_order(self, mask):
        """Raster indices of the visible tokens, (B, V); every clip must keep the same number."""
        if mask is None:
            return self.token_order[None]
        return split_by_mask(mask, count_visible(mask, self.token_order.numel()))[0]

    def forward_features(self, x, mask=None):  # x: B, 3, T, H, W -> B, V, C; order (B or 1, V)
        x = self.pos_drop(self.patch_embed(x) + self.pos_embed)  # B, N, C
        order = self.visible_order(mask)
        if mask is not None:
            x = x.gather(1, order[..., None].expand(-1, -1, x.shape[-1]))  # B, V, C
        for block in self.blocks:
            if self.grad_checkpointing and self.training:
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return x, order


class VisionTransformerClassifier(ClassifierHead, VisionTransformer):
    """ViT classifier: mean over all tokens -> fc_norm -> head (upstream `vit_base_patch16_160`)."""

    def __init__(self, num_classes=7, init_scale=0.001, norm_eps=1e-6, **kwargs):
        super().__init__(norm_eps=norm_eps, **kwargs)
        self.num_classes = num_classes
        self._build_head(num_classes, norm_eps, init_scale)

    def forward(self, x):  # B, 3, T, H, W -> B, num_classes
        x, _ = self.forward_features(x)  # B, N, C
        return self.forward_head(x.mean(1))

    def no_weight_decay(self):
        return set()


class VisionTransformerEncoder(VisionTransformer):
    """ViT as the MAE encoder: visible tokens in (raster order), normalised tokens out."""

    def __init__(self, norm_eps=1e-6, **kwargs):
        super().__init__(norm_eps=norm_eps, **kwargs)
        self.norm = nn.LayerNorm(self.embed_dim, eps=norm_eps)
        self.apply(init_pretrain_weights)

    @property
    def num_patches(self):
        return self.patch_embed.num_patches

    def forward(self, x, mask):  # -> tokens B, V, C, order B, V
        x, order = self.forward_features(x, mask)
        return self.norm(x), order.expand(x.shape[0], -1)

    def no_weight_decay(self):
        return set()

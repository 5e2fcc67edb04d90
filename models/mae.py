"""MAE-DFER pretraining: encoder on visible tokens, a light decoder, appearance + motion targets.

Order of this file follows the data: targets -> loss -> decoder -> the masked autoencoder.
The decoder predicts, per masked token, tubelet x patch x patch x 3 values ordered
(frame-in-tubelet, row, col, channel). With the frame-difference target the first frame of each
tubelet is the appearance target and the second the motion target.
"""

import torch
import torch.nn.functional as F
from einops import rearrange
from timm.layers import trunc_normal_
from torch import nn

from .layers import Block, count_visible, init_pretrain_weights, sinusoid_table, split_by_mask

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@torch.no_grad()
def reconstruction_targets(
    videos,
    mask,
    patch_size=16,
    tubelet_size=2,
    normalize=True,
    frame_diff=True,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    num_masked=None,
):
    """Targets for the masked tokens, (B, N_masked, tubelet * patch^2 * 3), ascending raster order.

    videos: (B, 3, T, H, W) normalised with (mean, std); mask: (B, N) bool, True = masked, with the
    same number of masked tokens in every clip (`num_masked` when the caller knows it: no host sync).
    normalize: per token and channel, (v - mean) / (unbiased std + 1e-6) over its tubelet pixels.
    frame_diff: the second frame of each tubelet becomes (normalised frame 1 - normalised frame 0),
    the motion target; the statistics above are taken over both frames together.
    """
    shape = (1, 3, 1, 1, 1)
    mean = torch.as_tensor(mean, dtype=videos.dtype, device=videos.device).view(shape)
    std = torch.as_tensor(std, dtype=videos.dtype, device=videos.device).view(shape)
    pixels = videos.float() * std + mean  # B, 3, T, H, W in [0, 1]
    patches = rearrange(
        pixels,
        "b c (t p0) (h p1) (w p2) -> b (t h w) (p0 p1 p2) c",
        p0=tubelet_size,
        p1=patch_size,
        p2=patch_size,
    )  # B, N, tubelet*p*p, 3
    if normalize:
        patches = (patches - patches.mean(dim=-2, keepdim=True)) / (
            patches.var(dim=-2, unbiased=True, keepdim=True).sqrt() + 1e-6
        )
    if frame_diff:
        if tubelet_size != 2:
            raise ValueError(f"the frame-difference target needs tubelet_size 2, got {tubelet_size}")
        first, second = patches.chunk(2, dim=2)  # each B, N, p*p, 3
        patches = torch.cat([first, second - first], dim=2)
    target = patches.flatten(2)  # B, N, tubelet*p*p*3
    if num_masked is None:
        num_masked = mask.shape[1] - count_visible(mask, mask.shape[1])
    masked = split_by_mask(mask, mask.shape[1] - num_masked)[1]  # B, N_masked
    return target.gather(1, masked[..., None].expand(-1, -1, target.shape[-1]))


def reconstruction_loss(pred, target, motion_weight=None):
    """MSE between predictions and targets, plus its appearance and motion halves.

    motion_weight None (the released setting) is the plain mean over all values, which equals
    0.5 * appearance + 0.5 * motion; a weight w gives (1 - w) * appearance + w * motion.
    """
    appearance = F.mse_loss(pred[..., : pred.shape[-1] // 2], target[..., : target.shape[-1] // 2])
    motion = F.mse_loss(pred[..., pred.shape[-1] // 2 :], target[..., target.shape[-1] // 2 :])
    if motion_weight is None:
        loss = F.mse_loss(pred, target)
    else:
        loss = (1 - motion_weight) * appearance + motion_weight * motion
    return loss, {"appearance": appearance.detach(), "motion": motion.detach()}


class PretrainDecoder(nn.Module):
    """Plain ViT blocks -> norm -> linear head; predicts the last `num_masked` tokens."""

    def __init__(
        self,
        num_outputs,
        embed_dim=384,
        depth=4,
        num_heads=6,
        mlp_ratio=4.0,
        qkv_bias=True,
        qk_scale=None,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.0,
        norm_eps=1e-6,
    ):
        super().__init__()
        dpr = torch.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList(
            [
                Block(embed_dim, num_heads, mlp_ratio, qkv_bias, qk_scale, drop_rate, attn_drop_rate, d, norm_eps)
                for d in dpr
            ]
        )
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps)
        self.head = nn.Linear(embed_dim, num_outputs)

    def forward(self, x, num_masked):  # B, N, D -> B, num_masked, num_outputs
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x[:, -num_masked:]))


class MaskedAutoencoder(nn.Module):
    """Encoder (LGI-Former or ViT) + decoder reconstructing appearance and motion of masked tokens.

    decoder_pos_order: 'upstream' (default, what the released weights were trained with) adds the
    decoder positions of the visible tokens in raster order although the LGI encoder returns them
    region-major; 'raster' gives every visible token its own position. For the ViT encoder both
    are the same.
    """

    def __init__(
        self,
        encoder,
        decoder_embed_dim=384,
        decoder_depth=4,
        decoder_num_heads=6,
        mlp_ratio=4.0,
        qkv_bias=True,
        qk_scale=None,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.0,
        norm_eps=1e-6,
        decoder_pos_order="upstream",
        normalize_target=True,
        frame_diff_target=True,
        motion_weight=None,
    ):
        super().__init__()
        if decoder_pos_order not in ("upstream", "raster"):
            raise ValueError(f"decoder_pos_order must be 'upstream' or 'raster', got {decoder_pos_order!r}")
        self.decoder_pos_order = decoder_pos_order
        self.normalize_target = normalize_target
        self.frame_diff_target = frame_diff_target
        self.motion_weight = motion_weight
        embed = encoder.patch_embed
        self.patch_size, self.tubelet_size = embed.patch_size, embed.tubelet_size
        num_outputs = 3 * self.tubelet_size * self.patch_size**2

        self.encoder = encoder
        self.decoder = PretrainDecoder(
            num_outputs,
            decoder_embed_dim,
            decoder_depth,
            decoder_num_heads,
            mlp_ratio,
            qkv_bias,
            qk_scale,
            drop_rate,
            attn_drop_rate,
            drop_path_rate,
            norm_eps,
        )
        self.decoder.apply(init_pretrain_weights)
        self.encoder_to_decoder = nn.Linear(encoder.embed_dim, decoder_embed_dim, bias=False)
        nn.init.xavier_uniform_(self.encoder_to_decoder.weight)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        trunc_normal_(self.mask_token, std=0.02, a=-0.02, b=0.02)
        self.register_buffer("pos_embed", sinusoid_table(embed.num_patches, decoder_embed_dim), persistent=False)

    def forward(self, x, mask):  # x: B, 3, T, H, W; mask: B, N -> B, N_masked, 3*tubelet*p*p
        tokens, order = self.encoder(x, mask)  # B, V, C (encoder order), B, V
        tokens = self.encoder_to_decoder(tokens)  # B, V, D
        B, V, D = tokens.shape
        pos = self.pos_embed.expand(B, -1, -1)  # B, N, D
        raster_visible, masked = split_by_mask(mask, V)  # B, V and B, N_masked
        if self.decoder_pos_order == "upstream":
            order = raster_visible  # raster order, whatever the encoder order
        pos_visible = pos.gather(1, order[..., None].expand(-1, -1, D))  # B, V, D
        pos_masked = pos.gather(1, masked[..., None].expand(-1, -1, D))  # B, N_masked, D
        x = torch.cat([tokens + pos_visible, self.mask_token + pos_masked], dim=1)  # B, N, D
        return self.decoder(x, pos_masked.shape[1])

    def loss(self, x, mask, pred):
        """Targets from the input clip, then (loss, {'appearance': .., 'motion': ..}) for `pred`."""
        target = reconstruction_targets(
            x,
            mask,
            self.patch_size,
            self.tubelet_size,
            self.normalize_target,
            self.frame_diff_target,
            num_masked=pred.shape[1],
        )
        return reconstruction_loss(pred.float(), target, self.motion_weight)

    def forward_loss(self, x, mask):
        return self.loss(x, mask, self(x, mask))

    def no_weight_decay(self):
        return {"mask_token"} | {f"encoder.{name}" for name in self.encoder.no_weight_decay()}

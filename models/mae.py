"""MAE-DFER pretraining: encoder on visible tokens, a light decoder, appearance + motion targets.

Order of this file follows the data: targets -> loss -> decoder -> the masked autoencoder, then the way
back from targets to pixels (reconstruction pictures).
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


def pixel_patches(videos, patch_size=16, tubelet_size=2, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """Pixels in [0, 1] of every token, (B, N, tubelet * patch^2, 3), from clips (B, 3, T, H, W) normalised
    with (mean, std); tokens in raster order, pixels ordered (frame-in-tubelet, row, col)."""
    shape = (1, 3, 1, 1, 1)
    mean = torch.as_tensor(mean, dtype=videos.dtype, device=videos.device).view(shape)
    std = torch.as_tensor(std, dtype=videos.dtype, device=videos.device).view(shape)
    pixels = videos.float() * std + mean  # B, 3, T, H, W in [0, 1]
    return rearrange(
        pixels,
        "b c (t p0) (h p1) (w p2) -> b (t h w) (p0 p1 p2) c",
        p0=tubelet_size,
        p1=patch_size,
        p2=patch_size,
    )  # B, N, tubelet*p*p, 3


def patch_statistics(patches):
    """Mean and scale (unbiased std + 1e-6) of every token and channel over its pixels, each (B, N, 1, 3):
    the normalised target is (patches - mean) / scale."""
    return patches.mean(dim=-2, keepdim=True), patches.var(dim=-2, unbiased=True, keepdim=True).sqrt() + 1e-6


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
    patches = pixel_patches(videos, patch_size, tubelet_size, mean, std)  # B, N, tubelet*p*p, 3
    if normalize:
        center, scale = patch_statistics(patches)
        patches = (patches - center) / scale
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
        """Targets from the input clip, then (loss, {'appearance': .., 'motion': ..}) for `pred`; without the
        frame-difference target the second half is each tubelet's second frame, named 'second_frame'."""
        target = reconstruction_targets(
            x,
            mask,
            self.patch_size,
            self.tubelet_size,
            self.normalize_target,
            self.frame_diff_target,
            num_masked=pred.shape[1],
        )
        loss, parts = reconstruction_loss(pred.float(), target, self.motion_weight)
        if not self.frame_diff_target:
            parts["second_frame"] = parts.pop("motion")
        return loss, parts

    def forward_loss(self, x, mask):
        return self.loss(x, mask, self(x, mask))

    def no_weight_decay(self):
        return {"mask_token"} | {f"encoder.{name}" for name in self.encoder.no_weight_decay()}


# ---- from targets back to pixels: what the decoder predicted, as pictures ------------------------------------


def targets_to_pixels(tokens, patches, normalize=True, frame_diff=True):
    """Invert `reconstruction_targets` token by token: (B, N, tubelet * p^2 * 3) targets or predictions ->
    pixels (B, N, tubelet * p^2, 3). Per-patch normalised values are scaled back with the statistics of
    `patches` (B, N, tubelet * p^2, 3), the clip's own pixels, as VideoMAE's visualisation does."""
    x = tokens.float().view(patches.shape)  # B, N, tubelet*p*p, 3
    if frame_diff:
        first, diff = x.chunk(2, dim=2)  # each B, N, p*p, 3
        x = torch.cat([first, first + diff], dim=2)
    if normalize:
        center, scale = patch_statistics(patches)
        x = x * scale + center
    return x


def tokens_to_video(tokens, grid_size, patch_size=16):
    """(B, N, K * p^2, C) values per token (K frames each) -> (B, C, t * K, H, W)."""
    t, h, w = grid_size
    pattern = "b (t h w) (k p1 p2) c -> b c (t k) (h p1) (w p2)"
    return rearrange(tokens, pattern, t=t, h=h, w=w, p1=patch_size, p2=patch_size)


@torch.no_grad()
def reconstruction_views(
    videos,
    mask,
    pred,
    patch_size=16,
    tubelet_size=2,
    normalize=True,
    frame_diff=True,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
):
    """The pictures of a reconstruction, as pixels of the clip: a dict of
    input (B, 3, T, H, W) in [0, 1]; mask (B, 1, T, H, W) bool, True = masked;
    prediction (B, 3, T, H, W): the decoder's appearance of the masked tokens, the visible tokens pasted back;
    motion_target, motion_prediction (B, 3, T / 2, H, W): frame 1 minus frame 0 of each tubelet, in pixels
    (signed), of the input and of the prediction (visible tokens pasted back).

    videos: (B, 3, T, H, W) normalised; mask (B, N) bool; pred (B, N_masked, tubelet * p^2 * 3), the model's
    output for the masked tokens in raster order. Masked tokens are un-normalised with the statistics of the
    pixels they hide (what VideoMAE does; the model never saw them).
    """
    if tubelet_size != 2:
        raise ValueError(f"reconstruction pictures need tubelet_size 2 (a motion frame per token), got {tubelet_size}")
    B, N = mask.shape
    grid = (videos.shape[2] // tubelet_size, videos.shape[3] // patch_size, videos.shape[4] // patch_size)
    patches = pixel_patches(videos, patch_size, tubelet_size, mean, std)  # B, N, 2*p*p, 3
    every = torch.ones_like(mask)
    target = reconstruction_targets(videos, every, patch_size, tubelet_size, normalize, frame_diff, mean, std, N)
    filled = target.clone()  # B, N, 2*p*p*3
    filled[mask] = pred.reshape(-1, pred.shape[-1]).to(filled.dtype)  # masked tokens, raster order per clip
    views = {"input": tokens_to_video(patches, grid, patch_size)}
    views["mask"] = tokens_to_video(mask[:, :, None, None].expand(B, N, patches.shape[2], 1), grid, patch_size)
    for name, tokens in (("target", target), ("prediction", filled)):
        pixels = targets_to_pixels(tokens, patches, normalize, frame_diff)  # B, N, 2*p*p, 3
        first, second = pixels.chunk(2, dim=2)  # each B, N, p*p, 3
        views[f"motion_{name}"] = tokens_to_video(second - first, grid, patch_size)  # B, 3, T/2, H, W
        if name == "prediction":
            views[name] = tokens_to_video(pixels, grid, patch_size).clamp(0, 1)
    return views

"""MAE-DFER pretraining: reconstruct appearance and motion of 90%-masked face videos.

    torchrun --nproc_per_node=N run_pretraining.py --model pretrain_lgi_former_base_patch16_160 \
        --data_path saved/data/voxceleb2/info_clean.csv --voxceleb2_crop --output_dir <dir>

Flags keep the upstream names and defaults. Checkpoints (checkpoint-N.pth, upstream layout) are written
after every epoch and the run resumes from the newest readable one (engine/run.py).
"""

from datasets.transforms import normalize
from datasets.video_dataset import PretrainDataset
from engine import distributed as dist
from engine.optim import param_groups
from engine.run import fit, run_main, run_parser, start_run, train_state
from engine.setup import str2bool
from inspection.probe import PretrainingProbe
from models import create_model

SCHEDULE = dict(epochs=800, save_ckpt_freq=50, lr=1.5e-4, min_lr=1e-5, warmup_epochs=40, opt_betas=(0.9, 0.95))
MODEL = dict(model="pretrain_lgi_former_base_patch16_160", drop_path=0.0, sampling_rate=4)


def get_args(argv=None):
    p, groups = run_parser(__doc__, **SCHEDULE, **MODEL)
    g = groups["model"]
    g.add_argument("--encoder_depth", type=int, default=None, help="override the preset encoder depth")
    g.add_argument("--decoder_depth", type=int, default=None, help="override the preset decoder depth")
    g.add_argument(
        "--decoder_pos_order",
        default="upstream",
        choices=["upstream", "raster"],
        help="'upstream' reproduces the released weights' mismatched decoder positions; 'raster' fixes it",
    )
    g = p.add_argument_group("masking and targets")
    g.add_argument("--mask_type", default="part_window", choices=["part_window", "tube", "random"])
    g.add_argument("--mask_ratio", type=float, default=0.9)
    g.add_argument("--part_win_size", type=int, nargs=3, default=(2, 5, 10), help="only (h, w) are used")
    g.add_argument("--normlize_target", type=str2bool, default=True, help="per-patch normalised targets")
    g.add_argument("--use_frame_diff_as_target", type=str2bool, default=True, help="motion (frame difference) target")
    g.add_argument("--target_diff_weight", type=float, default=None, help="motion weight w: (1-w) app + w motion")
    groups["optimiser"].add_argument(
        "--no_wd_region_tokens",
        action="store_true",
        help="exclude region tokens from weight decay (upstream decays them by a slip)",
    )
    g = groups["data"]
    g.add_argument(
        "--data_path",
        required=True,
        help="annotation file of the unlabelled clips, or shards packed from one (a folder or an object-store URL)",
    )
    g.add_argument("--voxceleb2_crop", action="store_true", help="VoxCeleb2's face crop (rows 0:160, cols 32:192)")
    g.add_argument(
        "--no_augmentation", action="store_true", help="the whole frame, resized, instead of a multi-scale crop"
    )
    g = groups["run"]
    g.add_argument("--probe_every", type=int, default=0, help="linear-probe the encoder every N epochs (0: never)")
    g.add_argument("--probe_data", default=None, help="split folder (train/val/test.csv) the probe uses")
    return p.parse_args(argv)


def build_model(args):
    kwargs = dict(
        img_size=args.input_size,
        num_frames=args.num_frames,
        drop_path_rate=args.drop_path,
        grad_checkpointing=args.use_checkpoint,
        decoder_pos_order=args.decoder_pos_order,
        normalize_target=args.normlize_target,
        frame_diff_target=args.use_frame_diff_as_target,
        motion_weight=args.target_diff_weight,
    )
    optional = {
        "depth": args.encoder_depth,
        "decoder_depth": args.decoder_depth,
        "attn_type": args.attn_type,
        "region_size": tuple(args.lg_region_size) if args.lg_region_size else None,
    }
    return create_model(args.model, **kwargs, **{k: v for k, v in optional.items() if v is not None})


def build_dataset(args, model):
    return PretrainDataset(
        args.data_path,
        data_root=args.data_root,
        num_frames=args.num_frames,
        sampling_rate=args.sampling_rate,
        input_size=args.input_size,
        mask_type=args.mask_type,
        mask_ratio=args.mask_ratio,
        window_size=tuple(args.part_win_size[1:]),
        voxceleb2_crop=args.voxceleb2_crop,
        augment=not args.no_augmentation,
        max_fail_fraction=args.max_fail_fraction,
        tubelet_size=model.tubelet_size,
        patch_size=model.patch_size,
        lgi_region_size=getattr(model.encoder, "region_size", None),  # refuse masks LGI cannot group, up front
        num_sample=args.num_sample,
    )


def pretrain_loss(model, batch):
    """Forward through the (possibly DDP-wrapped) model, then the model's own target and loss."""
    clips, mask = normalize(batch[0]), batch[1].flatten(1).bool()
    pred = model(clips, mask)
    return dist.unwrap(model).loss(clips, mask, pred)


def main(args):
    run = start_run(args)
    model = build_model(args).to(run.device)
    dataset = build_dataset(args, model)
    no_decay = model.no_weight_decay() if args.no_wd_region_tokens else {"mask_token"}
    state = train_state(run, args, model, param_groups(model, args.weight_decay, no_decay))
    shape, loader = model.encoder.patch_embed.input_shape, dict(batch_size=args.batch_size, pin_memory=args.pin_mem)
    probe = args.probe_every and PretrainingProbe(
        args.probe_data, args.probe_every, shape, args.sampling_rate, run, num_workers=args.num_workers, **loader
    )

    def end_epoch(epoch):  # probe UARs (log.txt and tensorboard) every --probe_every epochs
        return (probe(epoch, model) if probe else {}), ""

    stats = fit(run, state, dataset, pretrain_loss, end_epoch, verb="pretraining")
    run.logger.close()
    return stats


if __name__ == "__main__":
    run_main(main, get_args())

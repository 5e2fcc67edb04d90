"""VoxCeleb2 (pretraining): every dev/mp4/<speaker>/<video>/<clip>.mp4 to info_clean.csv, dummy label 0.

--verify decodes the first and last frame of every clip in parallel (--workers processes, with the loader's
datasets.video_io) and drops the clips it cannot decode, listing them in <out>/broken.txt; upstream
hard-coded 283 such clips instead.

  python -m preprocess.voxceleb2 --root /data/VoxCeleb2 --out saved/data/voxceleb2 --verify --workers 8
"""

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from datasets.labels import get_label_map
from datasets.video_io import VideoReadError, open_video
from preprocess.common import LayoutError, Split, dataset_parser, first_few, run, user_errors

LABELS = get_label_map("voxceleb2")
CLIPS = "dev/mp4"


def subdirs(folder: str) -> list[str]:
    with os.scandir(folder) as it:
        return sorted(e.name for e in it if e.is_dir())


def find_clips(root: Path) -> list[str]:
    """dev/mp4/*/*/*.mp4 relative to root, sorted."""
    base = root / CLIPS
    if not base.is_dir():
        raise LayoutError(f"{base}: not found; is --root the VoxCeleb2 root (holding dev/mp4)?")
    clips = []
    for speaker in subdirs(base):
        for video in subdirs(base / speaker):
            names = sorted(n for n in os.listdir(base / speaker / video) if n.endswith(".mp4"))
            clips += [f"{CLIPS}/{speaker}/{video}/{n}" for n in names]
    if not clips:
        raise LayoutError(f"{base}: no <speaker>/<video>/<clip>.mp4 files")
    return clips


def decoded_frames(path: str) -> int:
    """Number of frames when the loader's decoder reads the first and last frame, else 0."""
    try:
        video = open_video(path)
        video.read([0, len(video) - 1])
    except VideoReadError:
        return 0
    return len(video)


def verify(root: Path, clips: list[str], workers: int) -> dict[str, int]:
    with ProcessPoolExecutor(workers) as pool:
        frames = pool.map(decoded_frames, [str(root / c) for c in clips], chunksize=64)
        return dict(zip(clips, frames, strict=True))


def main(argv: list[str] | None = None) -> None:
    parser = dataset_parser(__doc__)
    parser.add_argument("--verify", action="store_true", help="decode every clip and drop broken ones")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="processes for --verify")
    args = parser.parse_args(argv)
    frames: dict[str, int] = {}

    def collect() -> list[Split]:
        clips = find_clips(args.root)
        if args.verify:
            frames.update(verify(args.root, clips, args.workers))
            broken = [c for c in clips if not frames[c]]
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "broken.txt").write_text("".join(f"{c}\n" for c in broken))
            print(f"dropped {len(broken)} clips the decoder cannot open: {first_few(broken) or 'none'}")
            clips = [c for c in clips if frames[c]]
        return [Split("info_clean", CLIPS, [(c, 0) for c in clips])]

    with user_errors("voxceleb2"):
        run(args, LABELS, ".jpg", collect, count_video=lambda path: frames.get(path.relative_to(args.root).as_posix()))


if __name__ == "__main__":
    main()

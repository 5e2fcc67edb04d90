import json

import cv2
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from datasets.annotations import read_annotations
from datasets.synthetic import EXPRESSIONS, _identity, _jobs, expression_track, generate, render_clip
from datasets.video_io import count_frames, read_frames


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    generate(out, num_clips=14, num_pretrain=3, num_frames=16, size=64, seed=3, workers=2)
    return out


def test_render_is_a_pure_function_of_the_seed():
    clip = render_clip([1, 2], label=4, num_frames=12, size=48)
    assert clip.shape == (12, 48, 48, 3) and clip.dtype == np.uint8
    np.testing.assert_array_equal(clip, render_clip([1, 2], label=4, num_frames=12, size=48))
    assert not np.array_equal(clip, render_clip([1, 3], label=4, num_frames=12, size=48))
    assert np.abs(clip[-1].astype(int) - clip[0]).mean() > 1  # the face moves


def test_the_class_shows_in_the_dynamics_not_in_single_frames():
    """On the controls: the axis along which the face moves (the top principal direction of the track, without
    its sign) gives the class; the controls of the last frame alone do not."""
    axes, last, labels = [], [], []
    for index in range(700):
        rng = np.random.default_rng([7, index])
        face = _identity(rng, 64)
        track = expression_track(rng, index % 7, 32, face["rest"], face["talk"])
        _, spread, directions = np.linalg.svd(track - track.mean(0), full_matrices=False)
        axis = directions[0] * spread[0]
        axes.append(np.outer(axis, axis)[np.triu_indices(len(axis))])
        last.append(track[-1])
        labels.append(index % 7)
    classifier = LogisticRegression(max_iter=3000)
    from_motion = cross_val_score(classifier, np.array(axes), labels, cv=5).mean()
    from_last_frame = cross_val_score(classifier, np.array(last), labels, cv=5).mean()
    assert from_motion > 0.95 and from_last_frame < 0.6, (from_motion, from_last_frame)


def test_a_linear_classifier_on_any_single_frame_does_not_recover_the_class():
    """Pixels (32 x 32 grey) of the first, middle or last frame of 700 clips vs their motion energy (the mean
    absolute difference between frames two apart): the class shows in the motion; single frames stay far
    below it. The seed is drawn afresh on every run, so the check holds for the generator, not for one set of
    clips (seen on seeds 5, 11, 23: 0.31-0.36 against 0.74-0.81 balanced accuracy, chance 0.14)."""
    seed = int(np.random.default_rng().integers(1 << 31))
    clips = [render_clip([seed, index], index % 7, num_frames=32, size=64) for index in range(700)]
    labels = np.arange(700) % 7

    def grey(frame):
        return cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (32, 32), interpolation=cv2.INTER_AREA) / 255.0

    pixels = np.stack([[grey(frame) for frame in clip] for clip in clips]).reshape(700, 32, -1)  # N, T, 32*32

    def score(features):
        classifier = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=1000))
        return cross_val_score(classifier, features, labels, cv=5, scoring="balanced_accuracy").mean()

    single = {t: score(pixels[:, t]) for t in (0, 16, 31)}
    motion = score(np.abs(np.diff(pixels[:, ::2], axis=1)).mean(1))
    assert max(single.values()) < 0.4 and motion > max(single.values()) + 0.15, (seed, single, motion)


def test_with_an_onset_the_face_rests_until_it():
    """Demo videos: the same identity and draws as a neutral clip before the onset, the expression after it."""
    face = _identity(np.random.default_rng(5), 64)

    def track(label):
        return expression_track(np.random.default_rng(6), label, 60, face["rest"], face["talk"], onset=30)

    surprise, neutral = track(4), track(2)
    np.testing.assert_array_equal(surprise[:31], neutral[:31])  # the burst rises from 0 at frame 30
    assert np.abs(surprise[31:] - neutral[31:]).max() > 1
    with pytest.raises(ValueError, match="onset is a fraction"):
        generate("unused", onset=1.5)


def test_confusable_pairs_share_most_controls():
    happy, sad, neutral, angry, surprise, disgust, fear = EXPRESSIONS
    for a, b, unrelated in ((surprise, fear, sad), (angry, disgust, happy)):
        assert np.abs(a - b).sum() < np.abs(a - unrelated).sum()


def test_layout_and_splits(dataset):
    clips = sorted(p.name for p in (dataset / "frames").iterdir())
    assert clips == [f"clip_{i:05d}" for i in range(14)]
    assert len(list((dataset / "videos").glob("*.mp4"))) == 14
    tests = []
    for fold in range(1, 6):
        parts = {}
        for name in ("train", "val", "test"):
            frames = read_annotations(dataset / f"split{fold:02d}" / f"{name}.csv", num_classes=7)
            videos = read_annotations(dataset / "mp4" / f"split{fold:02d}" / f"{name}.csv", num_classes=7)
            assert [s.label for s in frames] == [s.label for s in videos]
            parts[name] = {s.path.rsplit("/", 1)[1] for s in frames}
        assert not parts["train"] & parts["val"] and not parts["train"] & parts["test"]
        assert not parts["val"] & parts["test"]
        assert parts["train"] | parts["val"] | parts["test"] == set(clips)
        tests += parts["test"]
    assert sorted(tests) == clips  # every clip is tested exactly once over the five folds
    pool = read_annotations(dataset / "pretrain.csv")
    assert len(pool) == 3 and {s.label for s in pool} == {0}  # unlabelled


def test_the_unlabelled_pool_shows_every_class():
    shown = [job[4] for job in _jobs("out", "pretrain", 200, 0, 32, 64, 25)]
    assert set(shown) == set(range(7)) and max(np.bincount(shown)) < 2 * 200 / 7


def test_frames_and_mp4_hold_the_same_clip(dataset):
    folder, video = dataset / "frames" / "clip_00005", dataset / "videos" / "clip_00005.mp4"
    length = count_frames(folder)
    assert 12 <= length <= 20 and count_frames(video) == length
    indices = [0, length // 2, length - 1]
    difference = np.abs(read_frames(folder, indices).astype(int) - read_frames(video, indices))
    assert difference.mean() < 5  # codec noise (H.264 vs jpg), not a different clip


def test_reuse_keeps_only_a_set_of_the_same_recipe(tmp_path):
    assert not generate(tmp_path, num_clips=2, num_pretrain=1, num_frames=8, size=32, workers=1, reuse=True)["reused"]
    first = (tmp_path / "videos" / "clip_00001.mp4").stat().st_mtime_ns
    assert generate(tmp_path, num_clips=2, num_pretrain=1, num_frames=8, size=32, workers=1, reuse=True)["reused"]
    assert (tmp_path / "videos" / "clip_00001.mp4").stat().st_mtime_ns == first
    changed = generate(tmp_path, num_clips=2, num_pretrain=1, num_frames=8, size=32, seed=1, workers=1, reuse=True)
    assert not changed["reused"] and json.loads((tmp_path / "recipe.json").read_text())["seed"] == 1
    recipe = json.loads((tmp_path / "recipe.json").read_text())
    (tmp_path / "recipe.json").write_text(json.dumps({**recipe, "generator": "an older generator"}))
    assert not generate(tmp_path, num_clips=2, num_pretrain=1, num_frames=8, size=32, seed=1, workers=1, reuse=True)[
        "reused"
    ]


def test_generation_is_deterministic(dataset, tmp_path):
    generate(tmp_path, num_clips=2, num_pretrain=0, num_frames=16, size=64, seed=3, workers=1)
    for name in ("00001.jpg", "00009.jpg"):
        assert (tmp_path / "frames" / "clip_00001" / name).read_bytes() == (
            dataset / "frames" / "clip_00001" / name
        ).read_bytes()


def test_each_source_of_motion_can_be_left_out():
    """bench.motion_energy's variants: without every source the face stands still; each one alone moves it; the
    draws stay the same, so a variant differs from the whole clip only by what it leaves out."""
    sources = ("expression", "talk", "head", "noise")
    still = render_clip([5, 1], label=0, num_frames=24, size=64, without=sources)
    assert (still == still[:1]).all()
    for source in sources:
        alone = render_clip([5, 1], label=0, num_frames=24, size=64, without=[s for s in sources if s != source])
        assert np.abs(alone[1:].astype(int) - alone[:-1]).max() > 0, source
    whole = render_clip([5, 1], label=0, num_frames=24, size=64)
    np.testing.assert_array_equal(whole, render_clip([5, 1], label=0, num_frames=24, size=64, without=()))

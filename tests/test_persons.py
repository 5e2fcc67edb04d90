"""Every person in a video, on generated footage with known face boxes (datasets/scenes.py): two people side by
side, a film cutting between two people, a face that leaves and comes back, one face; shot cuts, tracklets and
identities as units."""

import numpy as np
import pytest
import torch

from bench.bench_persons import CLASSES, evaluate, owner_of_boxes, random_recognizer
from datasets import scenes
from datasets.transforms import clip_tensor, normalize
from inference import Recognizer
from inference.persons import Scan, join_tracklets, make_tracklet, track_persons
from inference.shots import ShotCuts
from preprocess.face_crop import crop_faces
from preprocess.face_track import MISSING


class ColourOracle:
    """A classifier that knows each person of a scene by the mean colour of their face crop and answers with
    that person's class: a person gets their own class exactly when their windows are cut from their own face."""

    def __init__(self, scene, input_size=160):
        references = []
        for person in range(scene.boxes.shape[1]):
            t = int(np.flatnonzero(scene.visible()[:, person])[0])
            x1, y1, x2, y2 = scene.boxes[t, person]
            half = 1.3 * max(x2 - x1, y2 - y1) / 2
            box = np.array([[(x1 + x2) / 2 - half, (y1 + y2) / 2 - half, (x1 + x2) / 2 + half, (y1 + y2) / 2 + half]])
            crop = crop_faces(scene.frames[t : t + 1], box, input_size)
            references.append(normalize(clip_tensor(crop)).mean(dim=(1, 2, 3)))
        self.references, self.labels = torch.stack(references), torch.tensor(scene.labels)

    def __call__(self, batch):  # B, 3, T, H, W -> B, K
        nearest = torch.cdist(batch.mean(dim=(2, 3, 4)), self.references).argmin(dim=1)
        return 10 * torch.nn.functional.one_hot(self.labels[nearest], len(CLASSES)).float()


def oracle_recognizer(scene, **options):
    return Recognizer(ColourOracle(scene), CLASSES, stride=4, hop=8, detector="haar", **options)


def test_two_people_side_by_side_are_two_persons_each_with_their_own_class():
    scene = scenes.side_by_side(labels=(0, 1))  # happy on the left, sad on the right
    result = oracle_recognizer(scene)(scene.frames, fps=25)
    assert len(result.persons) == 2
    owners = owner_of_boxes(result, scene)
    for person in result.persons:
        assert person.label == CLASSES[scene.labels[owners[person.id]]]
        assert all(w.probs is not None for w in person.windows)  # both on screen all the time
    assert sorted(owners.values()) == [0, 1]
    counts = evaluate(result, scene)
    assert counts["on_own"] == counts["fed"] > 0 and counts["covered"] == counts["visible"]


def test_a_film_cutting_between_two_people_never_classifies_a_crop_without_that_face():
    scene = scenes.cutting(labels=(2, 3), shots=4)  # 4 shots of 2 s: person 0, 1, 0, 1
    result = oracle_recognizer(scene, detect_every=2)(scene.frames, fps=25)
    assert result.shot_starts == [0, 50, 100, 150]
    assert len(result.persons) == 2  # joined across the cuts by appearance
    counts = evaluate(result, scene)
    assert counts["fed"] > 0 and counts["on_own"] == counts["fed"]  # every crop on that person's own face
    assert counts["shot_right"] == counts["shot_pairs"] == 4  # one ID per person, in every shot
    owners = owner_of_boxes(result, scene)
    for person in result.persons:
        assert person.label == CLASSES[scene.labels[owners[person.id]]]
        assert (person.track.status[50:100] == MISSING).all() != (person.track.status[:50] == MISSING).all()
    assert counts["covered"] >= 0.7 * counts["visible"]  # Haar misses some of person 1's frames


@pytest.mark.parametrize("detect_every", [1, 5])
def test_a_face_that_leaves_for_half_a_second_keeps_its_id(detect_every):
    scene = scenes.leaving(seed=2, away=(1.5, 2.0))
    result = oracle_recognizer(scene, detect_every=detect_every)(scene.frames, fps=25)
    assert len(result.persons) == 1
    track = result.persons[0].track
    seen = lambda t: t // detect_every * detect_every + 1  # noqa: E731  (a track ends on its last detection)
    assert track.found[: seen(36)].all() and track.found[50 : seen(len(scene.frames) - 1)].all()
    assert not track.found[38:50].any()  # away for 12 frames: not bridged, no box where no face is
    counts = evaluate(result, scene)
    assert counts["on_own"] == counts["fed"] > 0


def test_one_face_gives_the_same_timeline_with_all_faces_as_with_the_main_face(tmp_path):
    scene = scenes.leaving(seed=2, away=(3.5, 3.6))  # on screen the whole time but for 3 frames
    recognizer = random_recognizer(hop=8)
    everyone = recognizer(scene.frames, fps=25)
    recognizer.faces = "main"
    main = recognizer(scene.frames, fps=25)
    assert len(everyone.persons) == len(main.persons) == 1
    np.testing.assert_array_equal(everyone.persons[0].timeline, main.persons[0].timeline)
    assert everyone.persons[0].to_dict(25) == main.persons[0].to_dict(25)
    assert everyone.label == main.label is not None


def test_two_people_each_get_their_own_annotations_and_report_rows(tmp_path):
    scene = scenes.side_by_side(seconds=2.0)
    result = random_recognizer()(scene.frames, fps=25, annotated=tmp_path / "annotated.mp4")
    report = result.to_dict()
    assert [p["person"] for p in report["persons"]] == [1, 2]
    for person in report["persons"]:
        box = person["windows"][0]["box"]
        assert person["overall"]["label"] in CLASSES and len(box) == 4
    left, right = (report["persons"][k]["windows"][0]["box"] for k in (0, 1))
    assert left[2] < right[0]  # the boxes are each person's own
    assert (tmp_path / "annotated.mp4").stat().st_size > 0


def test_shot_cuts_are_found_and_motion_is_not_a_cut():
    scene = scenes.cutting(shots=3)
    cuts = ShotCuts()
    for frame in scene.frames:
        cuts.update(frame)
    assert cuts.starts == [0, 50, 100]
    moving = ShotCuts()
    for frame in scenes.side_by_side(seconds=3.0).frames:  # talking, swaying faces
        moving.update(frame)
    assert moving.starts == [0]


def detections_of(boxes):
    """(T, 4) boxes, NaN where no face -> per-frame (N, 5) detections."""
    return [np.zeros((0, 5), np.float32) if np.isnan(b).any() else np.array([[*b, 1.0]], np.float32) for b in boxes]


def test_a_tracklet_is_bridged_across_a_short_gap_only_and_never_held():
    boxes = np.tile(np.array([10, 10, 50, 50], np.float32), (30, 1))
    boxes[8:11] = np.nan  # 3 frames missed: bridged
    boxes[15:25] = np.nan  # 10 frames: missing
    detections = dict(enumerate(detections_of(boxes)))
    detections = {t: d[0] for t, d in detections.items() if len(d)}
    tracklet = make_tracklet(detections, {t: np.ones(4) for t in detections}, margin=0.3, max_gap=6, smooth=1)
    assert (tracklet.first, tracklet.last) == (0, 29)
    assert list(tracklet.status[8:11]) == ["bridged"] * 3
    assert (tracklet.status[15:25] == MISSING).all() and np.isnan(tracklet.boxes[15:25]).all()


def test_tracks_never_cross_a_cut_and_coexisting_tracklets_are_never_joined():
    boxes = np.tile(np.array([10, 10, 50, 50], np.float32), (40, 1))  # the same place before and after the cut
    detections = detections_of(boxes)
    descriptors = [np.ones((len(d), 4), np.float32) / 2 for d in detections]  # identical appearance
    persons = track_persons(Scan(detections, descriptors, [0, 20]), min_detections=1)
    assert len(persons) == 1 and persons[0].tracklets == [(0, 19), (20, 39)]  # two tracklets, one person
    both = [np.concatenate([d, d + [100, 0, 100, 0, 0]]) for d in detections]  # two faces in every frame
    persons = track_persons(Scan(both, [np.ones((2, 4), np.float32) / 2] * 40, [0]), min_detections=1)
    assert len(persons) == 2  # as alike as can be, yet on screen together: two people


def test_join_tracklets_merges_by_appearance_closest_first():
    def tracklet(first, descriptor):
        return make_tracklet({first: np.array([0, 0, 10, 10, 1.0])}, {first: np.array(descriptor)}, 0.3, 6, 1)

    tracklets = [tracklet(0, [1, 0]), tracklet(10, [0, 1]), tracklet(20, [0.98, 0.2]), tracklet(30, [0.1, 0.99])]
    assert join_tracklets(tracklets, same_person=0.35) == [[0, 2], [1, 3]]
    assert join_tracklets(tracklets, same_person=0.01) == [[0], [1], [2], [3]]


@pytest.mark.parametrize("faces", ["all", "main"])
def test_without_detection_the_whole_frame_is_one_person(faces):
    scene = scenes.side_by_side(seconds=1.0)
    result = random_recognizer(detector="none", faces=faces)(scene.frames, fps=25)
    assert len(result.persons) == 1 and result.persons[0].track.found.all()

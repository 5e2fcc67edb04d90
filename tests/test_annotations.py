import os

import pytest

from datasets.annotations import AnnotationError, Sample, read_annotations, write_annotations


@pytest.fixture
def clips(tmp_path):
    """data/clip_a, data/clip b (a space), data/c.mp4, data/empty (no frames); annotation files in tmp_path."""
    data = tmp_path / "data"
    for name in ("clip_a", "clip b"):
        (data / name).mkdir(parents=True)
        (data / name / "00001.jpg").write_bytes(b"jpg")
    (data / "c.mp4").write_bytes(b"mp4")
    (data / "empty").mkdir()
    return tmp_path


def write(path, text):
    path.write_text(text)
    return path


def test_upstream_format_relative_to_annotation_file(clips):
    samples = read_annotations(write(clips / "train.csv", "data/clip_a 0\ndata/c.mp4 6\n"))
    assert samples == [
        Sample(str(clips / "data" / "clip_a"), 0, 1),
        Sample(str(clips / "data" / "c.mp4"), 6, 2),
    ]


def test_data_root_and_absolute_paths(clips):
    other = clips / "splits"
    other.mkdir()
    text = f"clip_a 1\n{clips / 'data' / 'c.mp4'} 2\n"
    samples = read_annotations(write(other / "test.csv", text), data_root=clips / "data")
    assert [s.path for s in samples] == [str(clips / "data" / "clip_a"), str(clips / "data" / "c.mp4")]


def test_path_with_spaces_and_blank_lines(clips):
    samples = read_annotations(write(clips / "a.txt", "\ndata/clip b 3\n\ndata/clip_a   4  \n"))
    assert [(os.path.basename(s.path), s.label, s.line) for s in samples] == [("clip b", 3, 2), ("clip_a", 4, 4)]


@pytest.mark.parametrize(
    "text",
    [
        'path,label\ndata/clip b,3\n"data/c.mp4",5\n',
        "video,emotion,subject\ndata/clip b,3,s1\ndata/c.mp4,5,s2\n",
        "label,path\n3,data/clip b\n5,data/c.mp4\n",
        "data/clip b,3\ndata/c.mp4,5\n",
        "path label\ndata/clip b 3\ndata/c.mp4 5\n",
    ],
    ids=["csv header", "named columns", "label first", "csv no header", "space header"],
)
def test_csv_and_headers(clips, text):
    samples = read_annotations(write(clips / "a.csv", text), num_classes=7)
    assert [(os.path.basename(s.path), s.label) for s in samples] == [("clip b", 3), ("c.mp4", 5)]


@pytest.mark.parametrize(
    "text, line, problem",
    [
        ("data/clip_a 0\ndata/c.mp4 7\n", 2, "label 7 out of range [0, 7)"),
        ("data/clip_a -1\n", 1, "label -1 out of range"),
        ("data/clip_a 0\ndata/missing 1\n", 2, "path does not exist"),
        ("data/empty 0\n", 1, "folder holds no jpg/png frames"),
        ("data/clip_a 0\ndata/c.mp4 1\n./data/clip_a 2\n", 3, "duplicate of line 1"),
        ("data/clip_a 0\ndata/c.mp4 happy\n", 2, "label 'happy' is not an integer"),
        ("data/clip_a 0\ndata/c.mp4\n", 2, "expected '<path> <label>'"),
        ("\n\n", 1, "no samples"),
    ],
)
def test_validation_names_file_line_and_problem(clips, text, line, problem):
    path = write(clips / "bad.csv", text)
    with pytest.raises(AnnotationError) as info:
        read_annotations(path, num_classes=7)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: {problem}")
    assert "\n" not in message
    assert isinstance(info.value, ValueError)


def test_every_problem_is_listed_and_logged(clips, caplog):
    path = write(clips / "bad.csv", "data/missing 0\ndata/clip_a 9\ndata/clip_a 1\n")
    with pytest.raises(AnnotationError, match=r"bad.csv:1: path does not exist: .* \(and 2 more problems\)$"):
        read_annotations(path, num_classes=7)
    assert [r.getMessage().split(": ", 1)[0] for r in caplog.records] == [f"{path}:1", f"{path}:2", f"{path}:3"]


def test_missing_paths_pass_without_check(clips):
    assert len(read_annotations(write(clips / "a.csv", "nowhere/x 0\n"), check_paths=False)) == 1


def test_write_then_read_round_trip(clips):
    pairs = [(clips / "data" / "clip b", 2), (str(clips / "data" / "c.mp4"), 0)]
    out = clips / "splits" / "split01" / "train.csv"
    write_annotations(out, pairs)
    assert out.read_text() == "../../data/clip b 2\n../../data/c.mp4 0\n"
    samples = read_annotations(out)
    assert [(s.path, s.label) for s in samples] == [(str(p), label) for p, label in pairs]
    write_annotations(clips / "copy.csv", samples, relative_to=clips / "data")
    assert read_annotations(clips / "copy.csv", data_root=clips / "data") == [
        Sample(s.path, s.label, s.line) for s in samples
    ]

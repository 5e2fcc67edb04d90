"""The precision switch (inference/precision.py, backends.py, model_cache.py): what `auto` takes on which CPU, the
one-line refusals, the int8 model built once per checkpoint content, and every path's windows against float32."""

import argparse
import shutil

import numpy as np
import pytest
import torch

import demo
from datasets.synthetic import render_clip
from engine.checkpoint import save_checkpoint
from inference import Recognizer
from inference import precision as precision_module
from inference.precision import PrecisionError, choose_precision
from models import create_model
from system.cpu import bf16_features, cpu_features

AMX_XEON = {"avx2", "avx512_f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile"}
ZEN4 = {"avx2", "avx512_f", "avx512_vnni", "avx512_bf16"}
CASCADE_LAKE = {"avx2", "avx512_f", "avx512_vnni"}
SKYLAKE = {"avx2", "avx512_f"}
HASWELL = {"avx", "avx2"}


@pytest.fixture(autouse=True)
def no_onednn_cap(monkeypatch):
    """The mocked CPUs' flags decide, not a oneDNN cap in the environment (bench/avx2.sh sets one)."""
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "checkpoint-best.pth", seed=0)


def tiny_checkpoint(path, seed):
    torch.manual_seed(seed)
    model = create_model("lgi_former_tiny_patch16_64", depth=1, init_scale=1.0)
    return save_checkpoint(path, model, "best", args=argparse.Namespace(data_set="synthetic", sampling_rate=2))


def window_probs(rec, frames):
    return np.array([w.probs for w in rec(frames).persons[0].windows])


@pytest.mark.parametrize(
    "features, width, expected",
    [
        (AMX_XEON, 512, "bf16"),
        (ZEN4, 512, "bf16"),  # AVX512_BF16 without AMX
        (ZEN4, 128, "fp32"),  # too narrow for bf16 to pay
        (SKYLAKE, 512, "fp32"),
        (HASWELL, 512, "fp32"),
        (set(), None, "fp32"),
    ],
)
def test_auto_takes_the_fast_path_only_where_the_cpu_has_it(features, width, expected):
    choice = choose_precision("auto", "cpu", features, width)
    assert choice.precision == expected and choice.reason.startswith("auto: ")
    assert choice.autocast_dtype == (torch.bfloat16 if expected == "bf16" else None)


@pytest.mark.parametrize(
    "cap, expected",
    [("AVX2", []), ("AVX512_CORE_BF16", ["avx512_bf16"]), ("AVX512_CORE_AMX", ["amx_bf16", "avx512_bf16"]),
     ("ALL", ["amx_bf16", "avx512_bf16"])],
)  # fmt: skip
@pytest.mark.parametrize("variable", ["ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"])
def test_a_onednn_cap_below_the_bf16_kernels_takes_bf16_away(monkeypatch, cap, expected, variable):
    monkeypatch.setenv(variable, cap)  # bench/avx2.sh runs this machine as an AVX2 CPU with ONEDNN_MAX_CPU_ISA
    assert bf16_features(AMX_XEON) == expected
    choice = choose_precision("auto", "cpu", AMX_XEON, 512)
    assert choice.precision == ("bf16" if expected else "fp32")
    if not expected:
        assert choice.reason.startswith(f"auto: {variable}=AVX2 holds oneDNN below its bf16 kernels")
        with pytest.raises(PrecisionError, match=f"^--precision bf16: {variable}=AVX2 holds oneDNN below"):
            choose_precision("bf16", "cpu", AMX_XEON, 512)


def test_the_new_name_of_the_onednn_cap_comes_first(monkeypatch):
    monkeypatch.setenv("DNNL_MAX_CPU_ISA", "AVX2")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "ALL")  # as oneDNN reads them
    assert bf16_features(AMX_XEON) == ["amx_bf16", "avx512_bf16"]


def test_auto_falls_back_to_float32_where_a_path_missed_the_accuracy_goal(monkeypatch):
    monkeypatch.setitem(precision_module.ACCURATE, "bf16", False)
    monkeypatch.setitem(precision_module.ACCURATE, "int8", False)
    assert choose_precision("auto", "cpu", AMX_XEON, 512).precision == "fp32"
    assert (
        choose_precision("auto", "cpu", CASCADE_LAKE, 512).reason
        == "auto: no bf16 instructions on this CPU (AVX512_BF16 or AMX-BF16), int8 missed the accuracy goal"
    )
    monkeypatch.setitem(precision_module.ACCURATE, "int8", True)
    assert choose_precision("auto", "cpu", AMX_XEON, 512).precision == "int8"
    assert choose_precision("auto", "cpu", CASCADE_LAKE, 512).precision == "int8"
    assert choose_precision("auto", "cpu", HASWELL, 512).precision == "fp32"  # uint8 kernels: no faster
    assert choose_precision("auto", "cpu", CASCADE_LAKE, 128).precision == "fp32"  # too narrow (tiny: inaccurate)
    assert choose_precision("fp32", "cpu", AMX_XEON, 512).reason == "asked for"


@pytest.mark.parametrize(
    "requested, device, features, message",
    [
        ("bf16", "cpu", HASWELL, "no bf16 instructions on this CPU"),
        ("bf16", "cpu", SKYLAKE, "no bf16 instructions on this CPU"),
        ("fp16", "cpu", AMX_XEON, "fp16 is for GPUs"),
        ("int8", "cuda", set(), "int8 runs on the CPU"),
        ("int4", "cpu", AMX_XEON, "unknown precision 'int4'"),
    ],
)
def test_a_path_this_machine_cannot_run_is_refused_in_one_line(requested, device, features, message):
    with pytest.raises(PrecisionError, match=message) as info:
        choose_precision(requested, device, features)
    assert "\n" not in str(info.value)


def test_on_a_gpu_auto_takes_its_16_bit_path(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "NVIDIA H100")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *_: True)
    assert str(choose_precision("auto", "cuda")) == "precision bf16: auto: NVIDIA H100 has bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *_: False)
    assert choose_precision("auto", "cuda").precision == "fp16"


def test_the_demo_refuses_bf16_on_a_cpu_without_it_in_one_line(tmp_path, checkpoint, monkeypatch):
    monkeypatch.setattr(precision_module, "cpu_features", lambda: set(HASWELL))
    args = demo.get_args(["clip.mp4", "--checkpoint", str(checkpoint), "--device", "cpu", "--precision", "bf16"])
    with pytest.raises(ValueError, match=r"--precision bf16: no bf16 instructions on this CPU") as info:
        demo.main(args)  # demo.py's __main__ prints ValueErrors as "error: <message>"
    assert "\n" not in str(info.value)


def test_the_cpu_features_are_read():
    features = cpu_features()
    if torch.cpu._is_avx2_supported():
        assert "avx2" in features


def test_the_int8_model_is_built_once_per_checkpoint_content(tmp_path, checkpoint, monkeypatch):
    import engine.export

    builds = []
    export = engine.export.export
    monkeypatch.setattr(engine.export, "export", lambda *a: builds.append(a) or export(*a))
    cache = tmp_path / "cache"
    frames = render_clip(2, 3, num_frames=40, size=64)
    first = Recognizer.from_checkpoint(checkpoint, "cpu", precision="int8", cache_dir=cache, detector="none", hop=8)
    assert first.precision.precision == "int8" and len(builds) == 1
    moved = shutil.copy(checkpoint, tmp_path / "renamed.pth")  # the same bytes under another name: reused
    again = Recognizer.from_checkpoint(moved, "cpu", precision="int8", cache_dir=cache, detector="none", hop=8)
    assert len(builds) == 1
    np.testing.assert_array_equal(window_probs(first, frames), window_probs(again, frames))
    tiny_checkpoint(moved, seed=1)  # other weights at the same path: built again, into a second entry
    changed = Recognizer.from_checkpoint(moved, "cpu", precision="int8", cache_dir=cache, detector="none", hop=8)
    assert len(builds) == 2 and len([p for p in cache.iterdir() if not p.name.startswith(".")]) == 2
    assert not np.array_equal(window_probs(changed, frames), window_probs(first, frames))


@pytest.mark.parametrize("precision", ["int8", "bf16"])
def test_every_path_keeps_the_float32_windows(tmp_path, checkpoint, precision):
    if precision == "bf16" and not bf16_features():
        pytest.skip("this CPU has no bf16 instructions")
    frames = render_clip(2, 3, num_frames=40, size=64)
    options = dict(cache_dir=tmp_path, detector="none", hop=8)
    reference = window_probs(Recognizer.from_checkpoint(checkpoint, "cpu", precision="fp32", **options), frames)
    rec = Recognizer.from_checkpoint(checkpoint, "cpu", precision=precision, **options)
    assert rec.precision.precision == precision
    probs = window_probs(rec, frames)
    assert np.abs(probs - reference).max() < 0.02
    assert (probs.argmax(1) == reference.argmax(1)).all()


def test_an_exported_onnx_file_runs_at_its_own_precision(tmp_path, checkpoint):
    from engine.export import export

    onnx = export(checkpoint, tmp_path / "model.onnx")
    assert Recognizer.from_checkpoint(onnx, precision="auto", detector="none").precision.precision == "fp32"
    with pytest.raises(PrecisionError, match="model.onnx: exported at fp32; --precision int8 needs the .pth"):
        Recognizer.from_checkpoint(onnx, precision="int8", detector="none")


def test_training_refuses_bf16_on_a_cpu_without_it_in_one_line(monkeypatch):
    import engine.setup

    monkeypatch.setattr(engine.setup, "bf16_features", lambda: [])
    with pytest.raises(ValueError, match=r"^--amp bf16: no bf16 instructions on this CPU .*; use --amp none$"):
        engine.setup.parse_amp("bf16", torch.device("cpu"))
    assert engine.setup.parse_amp("auto", torch.device("cpu")) is None  # float32 stays the CPU default
    monkeypatch.setattr(engine.setup, "bf16_features", lambda: ["amx_bf16"])
    assert engine.setup.parse_amp("bf16", torch.device("cpu")) is torch.bfloat16

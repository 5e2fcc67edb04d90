"""The GPU benchmark's harness runs end to end on CPU with tiny models, so a device run is not spent on a bug."""

from bench import bench_gpu


def test_gpu_bench_prints_every_row_and_profile(capsys):
    bench_gpu.main(
        ["--device", "cpu", "--batch_size", "1", "--repeats", "1", "--calls", "1", "--compile_modes",
         "--models", "lgi_former_tiny_patch16_160", "--pretrain_model", "pretrain_lgi_former_tiny_patch16_160",
         "--profile_rows", "3"]
    )  # fmt: skip
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith("| ") and "clips/s" not in line]
    assert [row.split(" | ")[1] for row in table] == ["inference", "train step", "pretrain step"]
    assert "lgi_former_tiny_patch16_160, one eager training step, batch 1" in out
    assert "pretrain_lgi_former_tiny_patch16_160, one eager step, batch 1" in out
    assert "FAILED" not in out

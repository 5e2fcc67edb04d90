"""Whether bench/avx2.sh computes what an AVX2-only CPU computes: one forward and backward pass of the quick start's
tiny LGI-Former on a fixed batch, here as it is, here through bench/avx2.sh, and under QEMU's AVX2-only Haswell
(`qemu-x86_64 -cpu Haswell-noTSX`, a couple of minutes); the largest differences of the logits and of the
gradients against QEMU's, whether they are the same bits, and which int8 kernels ONNX Runtime runs (its uint8 x
int8 products saturate on AVX2 kernels: models.onnx_export.u8s8_saturates).

    python -m bench.avx2_check
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RUNS = {
    "this CPU": [],
    "bench/avx2.sh": ["bash", "bench/avx2.sh"],
    "QEMU Haswell": ["qemu-x86_64", "-cpu", "Haswell-noTSX"],
}


def step(out):
    from models import create_model

    torch.manual_seed(0)
    torch.set_num_threads(1)  # the order of the sums is the kernels', not the threads'
    model = create_model("lgi_former_tiny_patch16_64", num_classes=7, num_frames=8, region_size=(4, 2, 4))
    logits = model(torch.randn(4, 3, 8, 64, 64))  # B, 7
    logits.sum().backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters()])
    from models.onnx_export import u8s8_saturates

    kernels = torch.backends.cpu.get_cpu_capability()
    np.savez(out, logits=logits.detach().numpy(), grads=grads.numpy(), kernels=kernels, saturates=u8s8_saturates())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--step", type=Path, help=argparse.SUPPRESS)  # internal: run the step, write its results here
    args = p.parse_args()
    if args.step:
        return step(args.step)
    if not shutil.which("qemu-x86_64"):
        raise SystemExit("error: qemu-x86_64 not found (Debian: apt-get install qemu-user)")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, prefix in RUNS.items():
            out = Path(tmp) / f"{len(results)}.npz"
            subprocess.run(
                [*prefix, sys.executable, "-m", "bench.avx2_check", "--step", str(out)], cwd=ROOT, check=True
            )
            results[name] = dict(np.load(out))
    reference = results["QEMU Haswell"]
    for name, r in results.items():
        same = all(np.array_equal(r[k], reference[k]) for k in ("logits", "grads"))
        print(
            f"{name:14s} PyTorch kernels {str(r['kernels']):7s} against QEMU Haswell: logits "
            f"{np.abs(r['logits'] - reference['logits']).max():.2e}, gradients "
            f"{np.abs(r['grads'] - reference['grads']).max():.2e}{', the same bits' if same else ''}; ONNX Runtime's "
            f"uint8 x int8 products {'saturate (AVX2 kernels)' if r['saturates'] else 'exact (VNNI or AMX kernels)'}"
        )


if __name__ == "__main__":
    main()

"""FLOP counting with torch.utils.flop_counter, including the CPU fused attention kernel.

FlopCounterMode knows the CUDA flash / efficient attention kernels but not
`_scaled_dot_product_flash_attention_for_cpu`; without it, attention FLOPs on CPU count as zero.
Counts are FLOPs (2 per multiply-accumulate); the paper's "FLOPs" are MACs.
"""

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count


def _cpu_flash_attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs):
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _custom_mapping():
    mapping = {}
    op = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if op is not None:
        mapping[op] = _cpu_flash_attention_flops
    return mapping


def count_flops(model, *inputs):
    """Total forward FLOPs of `model(*inputs)` and the per-operator breakdown."""
    counter = FlopCounterMode(display=False, custom_mapping=_custom_mapping())
    with torch.no_grad(), counter:
        model(*inputs)
    per_op = {str(op): n for op, n in counter.get_flop_counts()["Global"].items()}
    return counter.get_total_flops(), per_op

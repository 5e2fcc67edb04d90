"""CheckpointError and the pure state-dict helpers: the bottom of models/' checkpoint modules.

It imports no other module of the package, so checkpoint.py, safetensors_io.py, export_config.py and
onnx_export.py all depend on it without depending on each other.
"""

import torch


class CheckpointError(ValueError):
    pass


def state_dict_of(checkpoint, path="checkpoint"):
    """The weights inside a checkpoint: entry 'model', else 'module', else the dict itself."""
    for key in ("model", "module"):
        if isinstance(checkpoint, dict) and key in checkpoint:
            checkpoint = checkpoint[key]
            break
    if not isinstance(checkpoint, dict) or not all(torch.is_tensor(v) for v in checkpoint.values()):
        raise CheckpointError(f"{path}: holds no state dict under 'model', 'module' or at the top level")
    return checkpoint


def is_pretrain_state_dict(state_dict):
    return any(k.startswith(("encoder.", "decoder.")) for k in state_dict)


def pretrain_to_finetune(state_dict):
    """Map MAE pretraining weights onto the classifier's names, as upstream fine-tuning does.

    Strips 'backbone.' and 'encoder.', drops the decoder, encoder_to_decoder, mask_token and the
    encoder's final norm (the classifier starts a fresh fc_norm instead). Returns (weights, unused keys).
    """
    out, unused = {}, []
    for key, value in state_dict.items():
        name = key
        for prefix in ("backbone.", "encoder."):
            if name.startswith(prefix):
                name = name[len(prefix) :]
        if key.startswith(("decoder.", "encoder_to_decoder.", "mask_token")) or name.startswith("norm."):
            unused.append(name)
        else:
            out[name] = value
    return out, unused

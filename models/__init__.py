"""Models: LGI-Former, the VideoMAE ViT baseline and the MAE pretraining wrapper."""

from .checkpoint import CheckpointError, LoadReport, load_weights, read_checkpoint, state_dict_of
from .lgi_former import LGIBlock, LGIFormer, LGIFormerClassifier, LGIFormerEncoder
from .mae import MaskedAutoencoder, reconstruction_loss, reconstruction_targets
from .registry import create_model, from_upstream_config, list_models, model_family, model_from_config
from .vit import VisionTransformer, VisionTransformerClassifier, VisionTransformerEncoder

__all__ = [
    "CheckpointError",
    "LGIBlock",
    "LGIFormer",
    "LGIFormerClassifier",
    "LGIFormerEncoder",
    "LoadReport",
    "MaskedAutoencoder",
    "VisionTransformer",
    "VisionTransformerClassifier",
    "VisionTransformerEncoder",
    "create_model",
    "from_upstream_config",
    "list_models",
    "load_weights",
    "model_family",
    "model_from_config",
    "read_checkpoint",
    "reconstruction_loss",
    "reconstruction_targets",
    "state_dict_of",
]

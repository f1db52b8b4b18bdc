"""siamese: one-shot image matching with Siamese networks.

    >>> import siamese
    >>> model = siamese.load_model()                 # the bundled default; or a Hub repo id / folder
    >>> model.compare([img_a], [img_b, img_c])       # [1, 2] tensor of P(same)
    >>> model.embed([img_a])                         # [1, D] features
"""

from siamese.hub import load_model
from siamese.models import CheckpointError, CompactNet, KochNet, SiameseNet, build_model
from siamese.transforms import ImageInputError, PreprocessConfig, preprocess

__all__ = [
    "CheckpointError",
    "CompactNet",
    "ImageInputError",
    "KochNet",
    "PreprocessConfig",
    "SiameseNet",
    "build_model",
    "load_model",
    "preprocess",
]
__version__ = "0.1.0"

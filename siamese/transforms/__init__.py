"""From any image to the model's input, in four rooms:

- :mod:`~siamese.transforms.preprocessing`: the one path (:func:`preprocess`) that training, evaluation and the
  app share, with its settings (:class:`PreprocessConfig`) stored in each checkpoint;
- :mod:`~siamese.transforms.files`: decoding image files within a pixel limit, with messages for users;
- :mod:`~siamese.transforms.geometry`: cropping to the ink, resizing and evening out the stroke width;
- :mod:`~siamese.transforms.augment`: the training augmentations.
"""

from siamese.transforms.augment import BatchAugmentation, koch_affine_matrices, stroke_jitter, training_augmentation
from siamese.transforms.files import MAX_INPUT_PIXELS, ImageInputError, image_file_error, limit_image_pixels, open_image
from siamese.transforms.geometry import stroke_width
from siamese.transforms.preprocessing import (
    PREPROCESS_VERSION,
    PreprocessConfig,
    as_image,
    has_ink,
    preprocess,
    preprocess_batch,
    to_image,
)

__all__ = [
    "MAX_INPUT_PIXELS",
    "PREPROCESS_VERSION",
    "ImageInputError",
    "PreprocessConfig",
    "BatchAugmentation",
    "as_image",
    "has_ink",
    "image_file_error",
    "koch_affine_matrices",
    "limit_image_pixels",
    "open_image",
    "preprocess",
    "preprocess_batch",
    "stroke_jitter",
    "stroke_width",
    "to_image",
    "training_augmentation",
]

"""The calibration of P(character | drawing) moved beside the checkpoint I/O, to :mod:`siamese.hub`; these names
stay only for ``siamese/training/loop.py``, whose import moves with its owner's next change. Import from
``siamese.hub``."""

from siamese.hub import CALIBRATION_FILE, Calibration, read_calibration, write_calibration

__all__ = ["CALIBRATION_FILE", "Calibration", "read_calibration", "write_calibration"]

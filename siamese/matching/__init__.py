"""One-shot matching: compare a query against a support set of labelled examples.

A support set is anything with one example per class that queries are matched against: an
Omniglot alphabet (:mod:`siamese.matching.gallery`) or the symbols a visitor taught the app.
"""

from siamese.matching.inputs import DrawingError, image_from_editor
from siamese.matching.support_set import Match, SupportSet

__all__ = ["DrawingError", "Match", "SupportSet", "image_from_editor"]

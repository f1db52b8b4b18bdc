"""Shared fixtures. The data sets are prepared once per session (copied from ../shared/data)."""

from __future__ import annotations

import pytest

from siamese.data import ImageSet, load_omniglot


@pytest.fixture(scope="session")
def omniglot_validation() -> ImageSet:
    return load_omniglot("validation")


@pytest.fixture(scope="session")
def omniglot_background() -> ImageSet:
    return load_omniglot("train")


@pytest.fixture(scope="session")
def omniglot_evaluation() -> ImageSet:
    return load_omniglot("evaluation")


@pytest.fixture(scope="session")
def omniglot_test() -> ImageSet:
    return load_omniglot("test")

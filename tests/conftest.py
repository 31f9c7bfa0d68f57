"""Shared fixtures."""

from __future__ import annotations

import pytest

from losscli.losses import mse


@pytest.fixture
def wrong_mse_gradient():
    """mse's gradient kernel 1% off (2.02·e instead of 2e), for the length of a test: a
    genuinely wrong gradient that the check must fail (rtol 1e-3). The command line uses the
    same Loss object, so CliRunner runs see it too."""
    original = mse.grad_kernel

    def wrong(p, t, **options):
        return 1.01 * original(p, t, **options)

    object.__setattr__(mse, "grad_kernel", wrong)
    try:
        yield mse
    finally:
        object.__setattr__(mse, "grad_kernel", original)

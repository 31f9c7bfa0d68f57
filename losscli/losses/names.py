"""Loss names as the frameworks spell them, and the nearest name for a typo.

``losscli cross_entropy``, ``losscli MSELoss`` and ``get_loss("kl_div")`` find the loss a
PyTorch, Keras or scikit-learn user means. A name is compared without case, ``_``, ``-`` or
spaces, and without a trailing ``loss`` (``MSELoss``, ``mse_loss`` → ``mse``); the table below
adds the spellings that differ in more than that. Names that say "with logits" imply
``--logits``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "FRAMEWORK_NAMES",
    "IMPLIED_OPTIONS",
    "canonical",
    "did_you_mean",
    "nearest",
    "normalise",
]

# spelling (normalised) → the losscli name
FRAMEWORK_NAMES: dict[str, str] = {
    "crossentropy": "ce",  # F.cross_entropy, nn.CrossEntropyLoss
    "categoricalcrossentropy": "ce",  # keras
    "sparsecategoricalcrossentropy": "ce",  # keras
    "meansquarederror": "mse",  # keras, sklearn mean_squared_error
    "l2": "mse",
    "rootmeansquarederror": "rmse",  # keras, sklearn root_mean_squared_error
    "meanabsoluteerror": "mae",  # keras, sklearn mean_absolute_error
    "negativeloglikelihood": "nll",
    "binarycrossentropy": "bce",  # F.binary_cross_entropy, keras
    "bcewithlogits": "bce",  # nn.BCEWithLogitsLoss
    "binarycrossentropywithlogits": "bce",  # F.binary_cross_entropy_with_logits
    "kldiv": "kl",  # F.kl_div, nn.KLDivLoss
    "kldivergence": "kl",  # keras
    "kullbackleiblerdivergence": "kl",
}

# spelling (normalised) → options it implies
IMPLIED_OPTIONS: dict[str, dict[str, Any]] = {
    "bcewithlogits": {"logits": True},
    "binarycrossentropywithlogits": {"logits": True},
}


def normalise(name: str) -> str:
    """``"BCEWithLogits_Loss"`` → ``"bcewithlogitsloss"``: no case, ``_``, ``-`` or spaces."""
    return "".join(c for c in name.lower() if c not in "_- ")


def canonical(name: str, names: Iterable[str]) -> tuple[str, dict[str, Any]] | None:
    """The losscli name that ``name`` spells (among ``names``, the registry's names and
    aliases), with the options the spelling implies; None when it spells none of them."""
    known = {normalise(n): n for n in names}
    key = normalise(name)
    for candidate in (key, key.removesuffix("loss")):
        if candidate in known:
            return known[candidate], dict(IMPLIED_OPTIONS.get(candidate, {}))
        if candidate in FRAMEWORK_NAMES and FRAMEWORK_NAMES[candidate] in known.values():
            return FRAMEWORK_NAMES[candidate], dict(IMPLIED_OPTIONS.get(candidate, {}))
    return None


def nearest(word: str, choices: Iterable[str] | Mapping[str, Any]) -> str | None:
    """The choice closest to ``word`` (difflib, ignoring case), or None when none is close."""
    by_lower = {c.lower(): c for c in choices}
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'mean'?)"``, or ``""`` when nothing is close."""
    match = nearest(word, choices)
    return f" (did you mean {match!r}?)" if match else ""

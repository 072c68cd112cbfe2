"""Where model weights come from: the Hugging Face hub's offline switches, hub ids against folders.

Every model loader (depth estimator, subject detector, diffusion model) follows the same rules:
a local folder is used as it is, a hub id is looked up in the local cache first, and the network is
asked only when the weights are missing and ``HF_HUB_OFFLINE`` is not set.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Iterator

#: Values of the offline variables that mean "on".
OFFLINE_VALUES = frozenset({"1", "ON", "YES", "TRUE"})
#: ``HF_HUB_OFFLINE``, and transformers' older ``TRANSFORMERS_OFFLINE``.
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
#: Loggers that warn on every retry of a download; the loaders report the outcome once instead.
HUB_LOGGERS = ("huggingface_hub", "huggingface_hub.utils._http", "transformers")


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) asks for local files only."""
    return any(os.environ.get(name, "0").strip().upper() in OFFLINE_VALUES for name in OFFLINE_VARIABLES)


def looks_like_path(model_id: str) -> bool:
    """Hub ids are ``name`` or ``namespace/name``; anything else is meant as a folder."""
    return model_id.startswith((".", "/", "~")) or "\\" in model_id or model_id.count("/") > 1


@contextmanager
def quiet_hub() -> Iterator[None]:
    """Silence the hub client's and transformers' warnings while loading: the outcome is reported once."""
    saved = {name: logging.getLogger(name).level for name in HUB_LOGGERS}
    for name in HUB_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


__all__ = ["OFFLINE_VALUES", "OFFLINE_VARIABLES", "hub_offline", "looks_like_path", "quiet_hub"]

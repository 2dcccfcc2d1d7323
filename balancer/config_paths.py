"""Relative paths in the config file are the config file's: they are resolved against the directory that holds
it, never against the gateway's working directory, which systemd (``/``), a container or a shell may set to anything.

That is ``transcripts.directory`` (its default ``var/transcripts`` included, when a ``transcripts:`` section is
given) and the path of a ``file:`` secret. A config read from a file (:func:`balancer.config.read`, what ``serve``,
``check`` and a reload use) has them made absolute at load time; an absolute path, an empty one and one starting
with ``~`` (both refused by :mod:`balancer.checks`) are kept as written. A config parsed from data with no file
(tests, the demo) keeps them as written: relative to the working directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import msgspec

C = TypeVar("C", bound=msgspec.Struct)  # the Config: a lower module does not import it, not even for its type


def anchor(path: str, base: Path | None) -> str:
    """``path`` resolved against ``base`` (the config file's directory) when it is relative; as written else."""
    if base is None or not path.strip() or path.startswith("~") or Path(path).is_absolute():
        return path
    return str(base / path)


def anchored(cfg: C, base: Path | None) -> C:
    """``cfg`` (a :class:`~balancer.config.Config`) with its relative paths resolved against ``base`` (see the
    module's rule)."""
    t = getattr(cfg, "transcripts", None)
    if t is None or (directory := anchor(t.directory, base)) == t.directory:
        return cfg
    return msgspec.structs.replace(cfg, transcripts=msgspec.structs.replace(t, directory=directory))

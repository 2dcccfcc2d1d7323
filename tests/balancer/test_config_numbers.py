"""The config's numbers beyond their types: the transcript writer's queue and file size (balancer/config_numbers.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from balancer import config as config_mod
from balancer.config import ConfigError
from tests.balancer.test_config import minimal, run_cli


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("queue_size", 0, "more than 0"),
        ("queue_size", -1, ">= 0"),
        ("max_bytes", 0, "more than 0"),
        ("max_bytes", -5, ">= 0"),
        ("max_bytes", 1, "at least 65536"),
        ("sample_rate", 1.5, "at most 1"),
        ("sample_rate", -0.1, ">= 0"),
    ],
)
def test_transcripts_numbers_are_refused_naming_the_key(tmp_path: Path, key: str, value: Any, why: str) -> None:
    """A transcripts queue of 0 (every record dropped), a file size of 0 or a few bytes (a file per batch), or a
    sample rate outside 0..1 is refused by the config load and by ``balancer check`` (exit 2, no traceback), the
    message naming ``transcripts.<key>`` (before: a queue and a file size of 0 were accepted)."""
    raw = {**minimal(), "transcripts": {"directory": str(tmp_path / "t"), key: value}}
    with pytest.raises(ConfigError) as exc:
        config_mod.parse(raw, "f.yaml")
    assert f"transcripts.{key}:" in str(exc.value) and why in str(exc.value), str(exc.value)
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump(raw))
    out = run_cli("check", "--config", str(f))
    assert out.returncode == 2 and f"transcripts.{key}:" in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_transcripts_numbers_that_mean_something_are_accepted(tmp_path: Path) -> None:
    """A sample rate of 0 pauses capture (documented: the routes' opt-ins stay), a queue of 1 and 64 KiB files
    are small but work: all accepted."""
    raw = {
        **minimal(),
        "transcripts": {"directory": str(tmp_path), "sample_rate": 0, "queue_size": 1, "max_bytes": 65536},
    }
    cfg = config_mod.parse(raw, "f.yaml")
    assert cfg.transcripts is not None and cfg.transcripts.queue_size == 1 and cfg.transcripts.max_bytes == 65536

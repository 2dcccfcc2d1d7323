"""Relative paths in the config file (``transcripts.directory``, ``file:`` secrets) are the config file's
directory's, whatever the gateway's working directory (systemd starts it in ``/``)."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from balancer import config as config_mod
from tests.conftest import CHAT, EmulatorHandle, auth, base_config, wait_ready
from tests.redis_server import free_port


async def test_serve_started_elsewhere_writes_transcripts_next_to_its_config(
    tmp_path: Path, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A real ``balancer serve`` started from another working directory, with ``transcripts.directory:
    var/transcripts`` and a key in ``file:secrets/ds-a``, reads the key and writes its transcripts under the
    config file's directory, nothing under its working directory (before: both were the working directory's,
    the key not found)."""
    conf, elsewhere = tmp_path / "etc", tmp_path / "cwd"
    (conf / "secrets").mkdir(parents=True)
    elsewhere.mkdir()
    (conf / "secrets" / "ds-a").write_text("sk-from-a-file\n")
    raw: dict[str, Any] = base_config(emulator.url)
    port = free_port()
    raw["server"] = {"port": port}
    raw["providers"]["ds-a"]["api_key"] = "file:secrets/ds-a"
    raw["transcripts"] = {"directory": "var/transcripts"}
    raw["routes"]["solo"]["transcripts"] = True
    (conf / "qiao.yaml").write_text(yaml.safe_dump(raw))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "balancer", "serve", "--config", "../etc/qiao.yaml"],
        cwd=elsewhere,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(http, url, proc)
        async with http.post(url + "/v1/chat/completions", json={**CHAT, "model": "solo"}, headers=auth()) as r:
            assert r.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    (written,) = (conf / "var" / "transcripts").glob("transcripts-*.jsonl.gz")
    with gzip.open(written, "rt", encoding="utf-8") as fh:
        (rec,) = [json.loads(line) for line in fh]
    assert rec["route"] == "solo" and rec["provider"] == "ds-a"
    assert list(elsewhere.iterdir()) == []


def test_only_relative_paths_are_resolved_against_the_config_file(tmp_path: Path) -> None:
    """Read from a file, a relative ``transcripts.directory`` becomes absolute under the file's directory; an
    absolute one is kept, and so are an empty one and one starting with ``~`` (which ``check`` refuses by name)."""
    raw: dict[str, Any] = base_config("http://127.0.0.1:9")
    cases = {"var/t": str(tmp_path / "var" / "t"), "/srv/t": "/srv/t", "": "", "~/t": "~/t"}
    for written, expected in cases.items():
        raw["transcripts"] = {"directory": written}
        (tmp_path / "qiao.yaml").write_text(yaml.safe_dump(raw))
        cfg = config_mod.load(tmp_path / "qiao.yaml")
        assert cfg.transcripts is not None and cfg.transcripts.directory == expected
    assert config_mod.parse(raw).transcripts == config_mod.TranscriptsConfig(directory="~/t")  # no file: as written

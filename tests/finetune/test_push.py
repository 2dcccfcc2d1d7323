"""finetune push and jobs against the emulated vendors' fine-tuning APIs (real HTTP, the CLI as a subprocess)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.conftest import EmulatorHandle
from tests.finetune.test_teacher_loop import _run

LINE = {"messages": [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "你好！"}]}


def _config(tmp_path: Path, emu: str) -> Path:
    path = tmp_path / "qiao.yaml"
    providers = {
        "glm": {"vendor": "glm", "api_key": "id.secret-of-glm", "base_url": f"{emu}/glm"},
        "bl": {"vendor": "qwen", "api_key": "sk-bailian-secret", "base_url": f"{emu}/qwen/compatible-mode/v1"},
        "ark": {"vendor": "doubao", "api_key": "ark-secret", "base_url": f"{emu}/doubao"},
    }
    raw = {"server": {"insecure_no_auth": True}, "providers": providers,
           "routes": {"r": {"candidates": [{"provider": "glm", "model": "glm-4-air"}]}}}  # fmt: skip
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _train(tmp_path: Path, lines: list[dict[str, object]]) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    return path


async def test_bailian_job_is_created_and_followed_to_success(tmp_path: Path, emulator: EmulatorHandle) -> None:
    """DashScope's native shape: the compatible-mode base URL is rewritten to the native API, the file goes up
    as ``files``, the job's PENDING/QUEUING/RUNNING/SUCCEEDED read as queued → running → succeeded."""
    cfg = _config(tmp_path, emulator.url)
    code, out, err = await _run("push", str(_train(tmp_path, [LINE] * 3)), "--config", str(cfg), "--provider", "bl",
                                "--model", "qwen-turbo", "--follow", "--interval", "0.01")  # fmt: skip
    assert code == 0, err
    states = [line.split(": ", 1)[1].split(" ")[0] for line in out.splitlines()]
    assert states == ["queued", "queued", "running", "succeeded"]
    assert "tokens trained" in out.splitlines()[-1]
    assert "sk-bailian-secret" not in out + err


async def test_a_file_breaking_the_rules_is_not_uploaded(tmp_path: Path, emulator: EmulatorHandle) -> None:
    """A file with lines the target refuses is reported by line and never reaches the vendor (exit 1)."""
    cfg = _config(tmp_path, emulator.url)
    bad = _train(tmp_path, [{"messages": [{"role": "user", "content": "没有回答"}]}])
    code, _, err = await _run("push", str(bad), "--config", str(cfg), "--provider", "glm", "--model", "glm-4-flash")
    assert code == 1
    assert "train.jsonl:1: rejected [turns.has_assistant]" in err and "nothing uploaded" in err
    assert emulator.emu.offline.files.get("glm", {}) == {}


async def test_a_vendor_refusal_shows_the_vendors_message(tmp_path: Path, emulator: EmulatorHandle) -> None:
    """An upload the vendor refuses (here: a key it does not accept) shows Zhipu's own message, not the key."""
    cfg = _config(tmp_path, emulator.url)
    async with emulator._session.post(
        f"{emulator.url}/_emulator/keys", json={"target": "glm", "key": "other.key"}
    ) as r:
        assert r.status == 200
    code, _, err = await _run("push", str(_train(tmp_path, [LINE])), "--config", str(cfg), "--provider", "glm",
                              "--model", "glm-4-flash")  # fmt: skip
    assert code == 1
    assert "zhipu answered HTTP 401: Authorization Token非法" in err and "(code 1002)" in err
    assert "secret-of-glm" not in err


async def test_a_vendor_without_a_keyed_api_says_what_to_do(tmp_path: Path, emulator: EmulatorHandle) -> None:
    """Ark's fine-tuning needs AK/SK and TOS: push exits 2 saying so, with the source, and sends nothing."""
    cfg = _config(tmp_path, emulator.url)
    code, _, err = await _run("jobs", "--config", str(cfg), "--provider", "ark")
    assert code == 2
    assert "AK/SK" in err and "https://www.volcengine.com/docs/82379/1262829" in err
    assert "ark-secret" not in err

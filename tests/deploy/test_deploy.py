"""deploy/ agrees with the code: every file parses, and ports, probe paths, env names, commands and
configs match what the gateway really does."""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from balancer import config as config_mod
from balancer.app import make_app
from balancer.cli import main as cli_main

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ENV = {
    "QIAO_CLIENT_KEY_SHA256": "0" * 64, "DEEPSEEK_API_KEY": "sk-x", "DASHSCOPE_API_KEY": "sk-y",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}  # fmt: skip


def k8s() -> dict[str, dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    for f in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(f.read_text()):
            docs[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return docs


def routes() -> set[str]:
    cfg = config_mod.parse({"server": {"insecure_no_auth": True}, "providers": {}, "routes": {}})
    return {r.canonical for r in make_app(cfg).router.resources()}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)


def test_bundled_configs_validate(env: None) -> None:
    """deploy/qiao.yaml and the ConfigMap's qiao.yaml both validate against the config schema."""
    cfg = config_mod.load(DEPLOY / "qiao.yaml")
    assert cfg.server.port == 8080 and cfg.server.host == "0.0.0.0" and cfg.state.url() == ENV["REDIS_URL"]
    cm = config_mod.parse(yaml.safe_load(k8s()["ConfigMap/qiao-config"]["data"]["qiao.yaml"]))
    assert cm.server.port == 8080 and cm.state.backend == "redis"
    assert cli_main(["check", "--config", str(DEPLOY / "qiao.yaml")]) == 0


def test_every_env_name_is_provided(env: None) -> None:
    """Every ${VAR} the configs use is set by compose and by the Kubernetes Secret."""
    required = r"\$\{([A-Za-z0-9_]+)\}"  # ${VAR:-default} ones are optional
    used = set(re.findall(required, (DEPLOY / "qiao.yaml").read_text()))
    used |= set(re.findall(required, k8s()["ConfigMap/qiao-config"]["data"]["qiao.yaml"]))
    secret = set(k8s()["Secret/qiao-secrets"]["stringData"])
    assert used <= secret and "REDIS_URL" in secret
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    gateway_env = set(compose["x-gateway"]["environment"])
    assert used <= gateway_env and "REDIS_URL" in gateway_env and len(used) >= 3


def test_probes_and_ports_match_the_app() -> None:
    """Kubernetes probes hit paths the app serves, on the port the config listens on."""
    paths = routes()
    dep = k8s()["Deployment/qiao"]["spec"]["template"]["spec"]
    container = dep["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz" in paths
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz" in paths
    assert container["ports"][0]["containerPort"] == 8080
    assert container["args"] == ["serve", "--config", "/etc/qiao/qiao.yaml"]
    assert dep["terminationGracePeriodSeconds"] > 30  # above server.drain_s
    assert k8s()["Service/qiao"]["spec"]["ports"][0]["targetPort"] == "http"
    assert k8s()["HorizontalPodAutoscaler/qiao"]["spec"]["scaleTargetRef"]["name"] == "qiao"
    assert k8s()["PodDisruptionBudget/qiao"]["spec"]["selector"]["matchLabels"] == {"app": "qiao"}
    assert k8s()["StatefulSet/qiao-redis"]["spec"]["template"]["spec"]["containers"][0]["args"][1:3] == [
        "--appendonly",
        "yes",
    ]


def test_dockerfile() -> None:
    """The image is multi-stage, non-root, health-checked on /healthz and runs `balancer serve`."""
    text = (DEPLOY / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) == 2
    assert re.search(r"^USER qiao$", text, re.M) and "useradd" in text
    health = re.search(r"HEALTHCHECK.*?CMD (\[.*\])", text, re.S)
    assert health and "/healthz" in health.group(1) and "/healthz" in routes()
    assert re.search(r'^ENTRYPOINT \["balancer"\]$', text, re.M)
    assert 'CMD ["serve", "--config", "/etc/qiao/qiao.yaml"]' in text
    assert "EXPOSE 8080" in text


def test_compose() -> None:
    """Compose runs Redis with AOF, two gateway replicas and an emulator profile."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert "--appendonly" in services["redis"]["command"]
    gateways = [n for n in services if n.startswith("gateway")]
    assert len(gateways) == 2
    assert compose["x-gateway"]["command"] == ["serve", "--config", "/etc/qiao/qiao.yaml"]
    assert services["emulator"]["profiles"] == ["emulator"] and services["emulator"]["command"][0] == "emulate"


def test_systemd_unit() -> None:
    """The unit starts `balancer serve`, reloads with SIGHUP and waits longer than the drain on stop."""
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((DEPLOY / "systemd" / "qiao.service").read_text())
    svc = unit["Service"]
    argv = shlex.split(svc["ExecStart"])
    assert argv[0].endswith("/balancer") and argv[1:] == ["serve", "--config", "/etc/qiao/qiao.yaml"]
    assert "-HUP" in svc["ExecReload"] and int(svc["TimeoutStopSec"]) > 30
    assert svc["User"] == "qiao" and "check" in svc["ExecStartPre"]


def test_no_real_secret_in_deploy() -> None:
    """No file in deploy/ carries something that looks like a real key."""
    for f in DEPLOY.rglob("*"):
        if f.is_file():
            assert not re.search(r"sk-[A-Za-z0-9]{20,}", f.read_text()), f
    assert os.environ.get("QIAO_SURELY_UNSET") is None


def _health_argv(service: dict[str, Any]) -> list[str]:
    """The health check a compose service really runs: its own, else the image's HEALTHCHECK (the Dockerfile)."""
    test = (service.get("healthcheck") or {}).get("test")
    if test is None:
        found = re.search(r"^HEALTHCHECK[^\n]*\\\n\s*CMD (\[[^\n]*\])$", (DEPLOY / "Dockerfile").read_text(), re.M)
        assert found
        test = ["CMD", *json.loads(found.group(1))]
    assert test[0] == "CMD", test
    return [sys.executable if a == "python" else a for a in test[1:]]


def test_compose_emulator_health_check_checks_the_emulator(tmp_path: Path) -> None:
    """The emulator service is built from the gateway's image: the health check it runs (its own, or else the
    image's, which asks :8080/healthz) must ask the port its `emulate` command listens on, and pass against a
    real emulator there, or the container is reported unhealthy for as long as it runs."""
    emu = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]["emulator"]
    port = emu["command"][emu["command"].index("--port") + 1]
    argv = _health_argv(emu)
    assert any(f"127.0.0.1:{port}/" in a for a in argv), argv
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    cmd = [sys.executable, "-m", "balancer", "emulate", "--host", "127.0.0.1", "--port", str(free)]
    with (tmp_path / "emu.log").open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=DEPLOY.parent, stdout=out, stderr=out)
    try:
        for _ in range(200):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", free)) == 0:
                    break
            time.sleep(0.05)
        argv = [a.replace(f"127.0.0.1:{port}/", f"127.0.0.1:{free}/") for a in argv]
        assert subprocess.run(argv, capture_output=True, timeout=30).returncode == 0
    finally:
        proc.terminate()
        proc.wait(10)

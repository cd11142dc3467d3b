"""deploy/compose.yaml and deploy/k8s/ are well-formed and true to the code: every
OpenTrail command and flag they use exists (`opentrail ... --help`), the probes are the
served health paths, the image they run is the one deploy/Dockerfile builds, and every
secret and selector they reference is defined. (No docker or cluster here: parsed.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NODES = ("node1", "node2", "node3")


def _help(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "opentrail", *args, "--help"],
                          capture_output=True, text=True, check=True).stdout


def _flags_exist(argv: list[str]) -> None:
    """`argv` (after the `opentrail` entrypoint) names a command and only its flags."""
    text = _help(argv[0])
    for flag in (a.split("=", 1)[0] for a in argv[1:] if a.startswith("--")):
        assert re.search(rf"(^|[\s,]){re.escape(flag)}\b", text), f"{argv[0]} has no {flag}"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict[str, Any]]:
    docs = [d for path in sorted((DEPLOY / "k8s").glob("*.yaml"))
            for d in yaml.safe_load_all(path.read_text()) if d]
    return {d["kind"]: d for d in docs}


def _image() -> str:
    """The image name the Dockerfile's build line tags."""
    match = re.search(r"-t (\S+) \.", (DEPLOY / "Dockerfile").read_text())
    assert match
    return match.group(1)


def test_compose_runs_postgres_minio_and_three_nodes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["minio"]["image"].startswith("minio/minio")
    for name in NODES:
        node = services[name]
        assert node["image"] == _image()
        assert node["build"]["dockerfile"] == "deploy/Dockerfile"
        # the build context is relative to the compose file
        assert (DEPLOY / node["build"]["context"] / "deploy/Dockerfile").is_file()
        assert node["entrypoint"] == ["opentrail"]
        assert node["command"][0] == "serve"
        _flags_exist(node["command"])
        assert "/readyz" in " ".join(node["healthcheck"]["test"])
        env = node["environment"]
        assert env["OPENTRAIL_DATABASE_URL"].startswith("postgresql://")
        assert env["OPENTRAIL_MASTER_KEY_FILE"] == "/run/secrets/master_key"
        assert node["secrets"] == ["master_key"]
        assert node["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "file" in compose["secrets"]["master_key"]
    assert compose["services"]["postgres"]["healthcheck"]["test"][1] == "pg_isready"


def test_compose_migrate_service_uses_the_migrate_command(compose: dict[str, Any]) -> None:
    migrate = compose["services"]["migrate"]
    assert migrate["entrypoint"] == ["opentrail"]
    _flags_exist(migrate["command"])
    assert "OPENTRAIL_DATABASE_URL" in _help("migrate")  # --to comes from the environment


def test_the_dockerfile_installs_the_postgres_extra_and_runs_opentrail() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert "'.[postgres]'" in text and 'ENTRYPOINT ["opentrail"]' in text
    assert "postgres" in (ROOT / "pyproject.toml").read_text()


def test_kubernetes_runs_three_probed_replicas_from_the_secret(
        manifests: dict[str, dict[str, Any]]) -> None:
    deployment = manifests["Deployment"]
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    container = pod["spec"]["containers"][0]
    assert container["image"] == _image()
    _flags_exist(container["args"])
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    secret = manifests["Secret"]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert set(env) == {"OPENTRAIL_DATABASE_URL", "OPENTRAIL_MASTER_KEY"}
    for ref in env.values():
        assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"]
    service = manifests["Service"]
    assert service["spec"]["selector"].items() <= labels.items()
    port = container["ports"][0]
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    assert f'"{port["containerPort"]}"' in str(container["args"]).replace("'", '"')
    assert manifests["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() \
        <= labels.items()


def test_kustomization_lists_every_manifest(manifests: dict[str, dict[str, Any]]) -> None:
    listed = set(manifests["Kustomization"]["resources"])
    files = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == files


def test_the_health_paths_are_served() -> None:
    app = (ROOT / "src" / "opentrail" / "api" / "_app.py").read_text()
    assert 'Route("/healthz"' in app and 'Route("/readyz"' in app


def _flags(argv: list[str]) -> dict[str, Any]:
    """`serve` flags as settings_from takes them (every flag here takes a value)."""
    from opentrail.config import SETTINGS

    kinds = {s.name: s.type for s in SETTINGS}
    args = argv[1:]
    out: dict[str, Any] = {}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        name = flag.removeprefix("--").replace("-", "_")
        out[name] = Path(value) if kinds[name] is Path else kinds[name](value)
    return out


def test_the_nodes_settings_pass_the_checks_at_start(compose: dict[str, Any],
                                                     manifests: dict[str, dict[str, Any]],
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    """What `serve` checks before it starts (docs/configuration.md, "Checks at start")
    accepts the nodes' flags, with the database URL and master key they are given."""
    import base64

    from opentrail.config import settings_from

    key = tmp_path / "master.key"
    key.write_text(base64.b64encode(b"\x05" * 32).decode())
    monkeypatch.setenv("OPENTRAIL_DATABASE_URL", "postgresql://opentrail:pw@postgres/opentrail")
    monkeypatch.setenv("OPENTRAIL_MASTER_KEY_FILE", str(key))
    container = manifests["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    for argv in (compose["services"]["node1"]["command"], container["args"]):
        settings = settings_from(None, _flags(argv))
        assert settings.database_url.startswith("postgresql://") and settings.port == 8420

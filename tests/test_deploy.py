"""The deployment files under ``deploy/``, checked statically (no Docker, Kubernetes or systemd here).

Each file must parse: systemd units with :mod:`configparser`, the Dockerfile
by its instructions, Compose and Kubernetes YAML with the strict subset
reader of ``tests/yaml_subset.py`` (PyYAML is no dependency). Then every
``wasmpool`` command line found in them (ExecStart, CMD, compose
``command``, container ``args``) must be one of the two forms the pool
provides, must be accepted by the real command line parser
(``wasmpool.cli.build_parser()``), and the ports everything exposes must be
the ones those commands bind and connect to.
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.yaml_subset import YamlSubsetError, load, load_all
from wasmpool.cli import available, build_parser

DEPLOY = REPO_ROOT / "deploy"
SYSTEMD = DEPLOY / "systemd"
K8S = DEPLOY / "k8s"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "docker-compose.yml"
DOCS = REPO_ROOT / "docs" / "deploy.md"

FRONTEND_PORT = 5555
BACKEND_PORT = 5556
STATE_DIR = "/var/lib/wasmpool"
STATE_URL = f"sqlite:{STATE_DIR}/state.db"
SAMPLE_INSTANCE = "broker.example"  # what %i of the worker template is replaced with
ENDPOINT = re.compile(r"tcp://(?P<host>\*|[A-Za-z0-9.-]+):(?P<port>[0-9]+)")

# The only command forms the pool offers: subcommand -> its options, each given once.
COMMAND_FORMS = {"broker": ("--frontend", "--backend", "--state"), "worker": ("--connect", "--processes")}

# ---------------------------------------------------------------------------
# Reading the files


class UnitParser(configparser.ConfigParser):
    """A systemd unit as INI: ``key=value``, case-sensitive keys, no interpolation, repeated keys allowed."""

    def __init__(self) -> None:
        super().__init__(strict=False, interpolation=None, delimiters=("=",), comment_prefixes=("#", ";"),
                         empty_lines_in_values=False)

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def read_unit(path: Path) -> UnitParser:
    unit = UnitParser()
    unit.read_string(path.read_text(encoding="utf-8"), source=path.name)
    return unit


def unit_directives(path: Path) -> list[tuple[str, str]]:
    """Every ``(section, key)`` in file order, repeats included (configparser keeps only the last)."""
    section = ""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif line and not line.startswith(("#", ";")):
            out.append((section, line.partition("=")[0].strip()))
    return out


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, with ``\\`` continuations joined and comments dropped."""
    out = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        word, _, args = (pending + line).partition(" ")
        out.append((word, " ".join(args.split())))
        pending = ""
    assert not pending, "a continuation line ends the Dockerfile"
    return out


def compose() -> dict[str, Any]:
    data = load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def k8s_documents(name: str) -> list[dict[str, Any]]:
    docs = load_all((K8S / name).read_text(encoding="utf-8"))
    assert all(isinstance(doc, dict) for doc in docs)
    return docs


def k8s_object(name: str, kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in k8s_documents(name) if doc["kind"] == kind]
    return found


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return found


# ---------------------------------------------------------------------------
# The wasmpool command lines of every file


@dataclass(frozen=True)
class Command:
    """One ``wasmpool`` invocation found in a deployment file: where, and its arguments after ``wasmpool``."""

    where: str
    argv: tuple[str, ...]

    @property
    def subcommand(self) -> str:
        return self.argv[0]

    def options(self) -> dict[str, str]:
        """``--name value`` (or ``--name=value``) pairs; fails on positional words and repeats."""
        out: dict[str, str] = {}
        words = iter(self.argv[1:])
        for word in words:
            assert word.startswith("--"), f"{self.where}: unexpected argument {word!r}"
            name, equals, value = word.partition("=")
            value = value if equals else next(words, "")
            assert name not in out, f"{self.where}: {name} given twice"
            out[name] = value
        return out

    def port(self, option: str) -> int:
        match = ENDPOINT.fullmatch(self.options()[option])
        assert match, f"{self.where}: {option} is not tcp://HOST:PORT"
        return int(match["port"])

    def host(self, option: str) -> str:
        match = ENDPOINT.fullmatch(self.options()[option])
        assert match, f"{self.where}: {option} is not tcp://HOST:PORT"
        return match["host"]


def expand_exec(line: str, environment: dict[str, str]) -> list[str]:
    """An ExecStart line as systemd runs it for the sample instance: specifiers and ``${VAR}`` replaced."""
    def specifier(match: re.Match[str]) -> str:
        replacements = {"i": SAMPLE_INSTANCE, "%": "%"}
        assert match[1] in replacements, f"unexpected specifier %{match[1]}"
        return replacements[match[1]]

    line = re.sub(r"%(.)", specifier, line)
    line = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: environment[m[1] or m[2]], line)
    return shlex.split(line)


def unit_environment(unit: UnitParser) -> dict[str, str]:
    pairs = (word.partition("=") for word in shlex.split(unit.get("Service", "Environment", fallback="")))
    return {name: value for name, _, value in pairs}


def after_wasmpool(words: list[str], where: str) -> tuple[str, ...]:
    assert words and PurePosixPath(words[0]).name == "wasmpool", f"{where}: does not run wasmpool: {words}"
    return tuple(words[1:])


def systemd_commands() -> Iterator[Command]:
    for path in sorted(SYSTEMD.glob("*.service")):
        unit = read_unit(path)
        words = expand_exec(unit["Service"]["ExecStart"], unit_environment(unit))
        where = f"{path.name}:ExecStart"
        yield Command(where, after_wasmpool(words, where))


def dockerfile_entrypoint() -> list[str]:
    instructions = dockerfile_instructions(DOCKERFILE)
    (entrypoint,) = [json.loads(args) for word, args in instructions if word == "ENTRYPOINT"]
    assert isinstance(entrypoint, list)
    return entrypoint


def dockerfile_commands() -> Iterator[Command]:
    (cmd,) = [json.loads(args) for word, args in dockerfile_instructions(DOCKERFILE) if word == "CMD"]
    yield Command("Dockerfile:CMD", after_wasmpool(dockerfile_entrypoint() + cmd, "Dockerfile:CMD"))


def compose_commands() -> Iterator[Command]:
    for name, service in compose()["services"].items():
        entrypoint = service.get("entrypoint", dockerfile_entrypoint())
        where = f"docker-compose.yml:{name}"
        yield Command(where, after_wasmpool(list(entrypoint) + list(service["command"]), where))


def k8s_commands() -> Iterator[Command]:
    for path in sorted(K8S.glob("*.yaml")):
        for doc in load_all(path.read_text(encoding="utf-8")):
            if doc["kind"] != "Deployment":
                continue
            for container in containers(doc):
                where = f"k8s/{path.name}:{doc['metadata']['name']}/{container['name']}"
                yield Command(where, after_wasmpool(container["command"] + container["args"], where))


def all_commands() -> list[Command]:
    return [*systemd_commands(), *dockerfile_commands(), *compose_commands(), *k8s_commands()]


COMMANDS = all_commands()


def commands_of(subcommand: str) -> list[Command]:
    return [command for command in COMMANDS if command.subcommand == subcommand]


def command_params() -> list[Any]:
    return [pytest.param(command, id=command.where) for command in COMMANDS]


# ---------------------------------------------------------------------------
# The YAML subset reader itself


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("a:\n  b: 1\n  c:\n  - x\n  - \"y\"\nd:\n  - name: w\n    port: 5555\n  - 'it''s'\n",
                     {"a": {"b": 1, "c": ["x", "y"]}, "d": [{"name": "w", "port": 5555}, "it's"]},
                     id="nested-blocks"),
        pytest.param("z: ~\ne:\nt: true\nf: 1.5\ns: 500m\nu: tcp://*:5555\nq: \"a\\\"b\\n\"\nh: x # note\n"
                     "k: \"a # b\"\n",
                     {"z": None, "e": None, "t": True, "f": 1.5, "s": "500m", "u": "tcp://*:5555",
                      "q": "a\"b\n", "h": "x", "k": "a # b"}, id="scalars"),
        pytest.param('l: ["a", b, 3]\ne: []\nm: {}\n', {"l": ["a", "b", 3], "e": [], "m": {}}, id="flow"),
        pytest.param("-\n  - a\n- b: [\"c: d\"]\n", [["a"], {"b": ["c: d"]}], id="sequence-items"),
    ],
)
def test_the_yaml_subset_reads(text: str, expected: Any) -> None:
    assert load(text) == expected


def test_the_yaml_subset_splits_documents() -> None:
    assert load_all("---\na: 1\n---\n# only a comment\n---\nb: [2]\n") == [{"a": 1}, None, {"b": [2]}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("a:\n\tb: 1\n", "tabs", id="tab"),
        pytest.param("a: &x 1\n", "anchors", id="anchor"),
        pytest.param("a: *x\n", "aliases", id="alias"),
        pytest.param("a: !!str 1\n", "tags", id="tag"),
        pytest.param("a: |\n  text\n", "block scalars", id="block-scalar"),
        pytest.param("a: b\n  c\n", "unexpected indentation", id="multi-line-plain"),
        pytest.param("a: 1\na: 2\n", "duplicate key 'a'", id="duplicate-key"),
        pytest.param("a: {b: 1}\n", "flow mappings", id="flow-mapping"),
        pytest.param("a: [[1]]\n", "nested flow", id="nested-flow"),
        pytest.param("a: [1, ]\n", "expected ','", id="trailing-comma"),
        pytest.param("a: yes\n", "differently", id="yaml11-bool"),
        pytest.param("on: 1\n", "differently", id="yaml11-key"),
        pytest.param("a: 0755\n", "differently", id="yaml11-octal"),
        pytest.param("a: 1:30\n", "differently", id="yaml11-sexagesimal"),
        pytest.param("? a\n: b\n", "complex keys", id="complex-key"),
        pytest.param('a: "open\n', "unterminated", id="unterminated-quote"),
        pytest.param("- - a\n", "nested sequences", id="compact-nested-sequence"),
        pytest.param("a: b: c\n", "ambiguous", id="colon-in-plain"),
        pytest.param('a: "x" y\n', "after a quoted scalar", id="text-after-quote"),
        pytest.param('a: "\\q"\n', "unsupported escape", id="escape"),
        pytest.param("--- a: 1\n", "document markers", id="content-after-marker"),
        pytest.param("a: 1\nb\n", "expected 'key: value'", id="not-a-key"),
    ],
)
def test_the_yaml_subset_refuses_what_it_does_not_support(text: str, message: str) -> None:
    with pytest.raises(YamlSubsetError, match=message):
        load_all(text)


# ---------------------------------------------------------------------------
# systemd

UNITS = sorted(SYSTEMD.glob("*.service"))
KNOWN_DIRECTIVES = {
    "Unit": {"Description", "Documentation", "Wants", "Requires", "After", "Before", "PartOf", "BindsTo",
             "Conflicts", "StartLimitIntervalSec", "StartLimitBurst"},
    "Service": {"Type", "User", "Group", "ExecStart", "ExecStartPre", "ExecStop", "ExecReload", "Restart",
                "RestartSec", "TimeoutStartSec", "TimeoutStopSec", "KillSignal", "KillMode",
                "WorkingDirectory", "Environment", "EnvironmentFile", "StateDirectory", "StateDirectoryMode",
                "RuntimeDirectory", "RuntimeDirectoryMode", "LimitNOFILE", "NoNewPrivileges", "ProtectSystem",
                "ProtectHome", "PrivateTmp", "PrivateDevices", "PrivateUsers", "ProtectKernelTunables",
                "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock",
                "ProtectHostname", "ProtectProc", "ProcSubset", "RestrictAddressFamilies",
                "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID", "LockPersonality",
                "MemoryDenyWriteExecute", "SystemCallArchitectures", "SystemCallFilter",
                "SystemCallErrorNumber", "RemoveIPC", "CapabilityBoundingSet", "AmbientCapabilities", "UMask",
                "ReadWritePaths", "ReadOnlyPaths", "DynamicUser"},
    "Install": {"WantedBy", "RequiredBy", "Alias", "Also", "DefaultInstance"},
}
REQUIRED_SERVICE = {"Type": None, "User": None, "WorkingDirectory": None, "ExecStart": None, "Restart": None,
                    "KillSignal": "SIGTERM", "TimeoutStopSec": None, "NoNewPrivileges": "yes",
                    "ProtectSystem": "strict", "PrivateTmp": "yes"}


def unit_params() -> list[Any]:
    return [pytest.param(path, id=path.name) for path in UNITS]


def test_both_units_exist() -> None:
    assert [path.name for path in UNITS] == ["wasmpool-broker.service", "wasmpool-worker@.service"]


@pytest.mark.parametrize("path", unit_params())
def test_a_unit_parses_with_known_directives_each_once(path: Path) -> None:
    unit = read_unit(path)
    assert unit.sections() == ["Unit", "Service", "Install"]
    directives = unit_directives(path)
    for section, key in directives:
        assert key in KNOWN_DIRECTIVES[section], f"[{section}] {key}: not a directive we know (typo?)"
    repeated = {d for d in directives if directives.count(d) > 1}
    assert not repeated, f"repeated directives would extend or override each other: {repeated}"


@pytest.mark.parametrize("path", unit_params())
def test_a_unit_is_hardened_and_stops_gracefully(path: Path) -> None:
    service = read_unit(path)["Service"]
    for key, value in REQUIRED_SERVICE.items():
        assert key in service, f"missing {key}="
        if value is not None:
            assert service[key] == value, f"{key}={service[key]}, want {value}"
    assert service["User"] not in ("root", "0")
    assert service["Restart"] in ("on-failure", "always")
    assert int(service["TimeoutStopSec"]) >= 10
    assert service.get("KillMode") == "mixed", "SIGTERM to the main process, which stops its children"
    assert read_unit(path)["Install"]["WantedBy"] == "multi-user.target"


def test_the_broker_unit_owns_the_state_directory() -> None:
    service = read_unit(SYSTEMD / "wasmpool-broker.service")["Service"]
    state_dir = f"/var/lib/{service['StateDirectory']}"
    assert state_dir == service["WorkingDirectory"] == STATE_DIR
    (broker,) = [c for c in systemd_commands() if c.subcommand == "broker"]
    assert str(PurePosixPath(broker.options()["--state"].removeprefix("sqlite:")).parent) == state_dir


def test_the_worker_template_connects_to_its_instance() -> None:
    service = read_unit(SYSTEMD / "wasmpool-worker@.service")["Service"]
    assert "tcp://%i:" in service["ExecStart"]
    (worker,) = [c for c in systemd_commands() if c.subcommand == "worker"]
    assert worker.host("--connect") == SAMPLE_INSTANCE


# ---------------------------------------------------------------------------
# Dockerfile

KNOWN_INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
                      "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}


def test_the_dockerfile_uses_known_instructions_and_the_slim_python_base() -> None:
    instructions = dockerfile_instructions(DOCKERFILE)
    assert all(word in KNOWN_INSTRUCTIONS for word, _ in instructions), [w for w, _ in instructions]
    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert [word for word, _ in instructions].count("FROM") == 1


def test_the_dockerfile_runs_as_a_non_root_user() -> None:
    instructions = dockerfile_instructions(DOCKERFILE)
    words = [word for word, _ in instructions]
    users = [args for word, args in instructions if word == "USER"]
    assert users and users[-1] not in ("root", "0"), users
    assert words.index("USER") < words.index("ENTRYPOINT")
    runs = " && ".join(args for word, args in instructions if word == "RUN")
    created = re.findall(r"useradd [^&]*?(\S+)\s*(?:&&|$)", runs)
    assert created == [users[-1]], "the image creates the user it runs as"


def dockerfile_uid() -> int:
    runs = " ".join(args for word, args in dockerfile_instructions(DOCKERFILE) if word == "RUN")
    match = re.search(r"useradd [^&]*--uid (\d+)", runs)
    assert match, "the user is created with a fixed --uid"
    return int(match[1])


def test_the_dockerfile_copies_existing_sources_and_installs_the_package() -> None:
    instructions = dockerfile_instructions(DOCKERFILE)
    ignore_file = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    ignore = [line.strip() for line in ignore_file.splitlines() if line.strip() and not line.startswith("#")]
    copied = [source for word, args in instructions if word == "COPY" for source in args.split()[:-1]]
    assert {"pyproject.toml", "worker", "broker"} <= set(copied)
    for source in copied:
        assert (REPO_ROOT / source).exists(), f"COPY {source}: not in the build context (the repository root)"
        assert not any(fnmatch(source, pattern) for pattern in ignore), f"{source}: in the ignore file"
    assert any(word == "RUN" and "pip install ." in args for word, args in instructions)


def test_the_image_runs_wasmpool() -> None:
    assert dockerfile_entrypoint() == ["wasmpool"]
    assert [c.subcommand for c in dockerfile_commands()] == ["broker"]


# ---------------------------------------------------------------------------
# Docker Compose


def test_compose_has_a_broker_and_a_scalable_worker() -> None:
    services = compose()["services"]
    assert set(services) == {"broker", "worker"}
    worker = services["worker"]
    assert "container_name" not in worker, "a fixed name would stop --scale"
    assert "ports" not in worker, "host ports would collide between scaled workers"
    assert worker["depends_on"] == ["broker"]
    assert all("container_name" not in service for service in services.values())


def test_compose_builds_the_deploy_dockerfile_from_the_repository() -> None:
    services = compose()["services"]
    images = {service["image"] for service in services.values()}
    assert len(images) == 1, "broker and workers run the same image"
    for service in services.values():
        build = service["build"]
        assert (COMPOSE.parent / build["context"]).resolve() == REPO_ROOT
        assert (REPO_ROOT / build["dockerfile"]).resolve() == DOCKERFILE


def test_compose_keeps_the_state_in_a_named_volume() -> None:
    data = compose()
    volume, _, target = data["services"]["broker"]["volumes"][0].partition(":")
    assert volume in data["volumes"]
    assert target == STATE_DIR
    (broker,) = [c for c in compose_commands() if c.subcommand == "broker"]
    assert broker.options()["--state"] == STATE_URL


# ---------------------------------------------------------------------------
# Kubernetes


def test_every_manifest_is_a_kubernetes_object() -> None:
    for path in sorted(K8S.glob("*.yaml")):
        for doc in k8s_documents(path.name):
            assert {"apiVersion", "kind", "metadata", "spec"} <= set(doc), path.name
            assert doc["metadata"]["name"].startswith("wasmpool-")


def test_the_broker_manifest() -> None:
    assert sorted(doc["kind"] for doc in k8s_documents("broker.yaml")) == [
        "Deployment", "PersistentVolumeClaim", "Service"]
    deployment = k8s_object("broker.yaml", "Deployment")
    spec = deployment["spec"]
    assert deployment["apiVersion"] == "apps/v1"
    assert spec["replicas"] == 1, "one broker owns the state"
    assert spec["strategy"]["type"] == "Recreate", "the old broker lets go of the volume first"
    claim = k8s_object("broker.yaml", "PersistentVolumeClaim")["metadata"]["name"]
    (volume,) = [v for v in spec["template"]["spec"]["volumes"] if "persistentVolumeClaim" in v]
    assert volume["persistentVolumeClaim"]["claimName"] == claim
    (container,) = containers(deployment)
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts[volume["name"]] == STATE_DIR


def test_the_broker_service_routes_to_the_broker_pods_only() -> None:
    service = k8s_object("broker.yaml", "Service")
    selector = service["spec"]["selector"].items()
    broker, worker = (k8s_object(name, "Deployment")["spec"]["template"]["metadata"]["labels"]
                      for name in ("broker.yaml", "worker.yaml"))
    assert selector <= broker.items()
    assert not selector <= worker.items()


@pytest.mark.parametrize("name", ["broker.yaml", "worker.yaml"])
def test_deployments_select_their_pods_and_run_unprivileged(name: str) -> None:
    deployment = k8s_object(name, "Deployment")
    spec = deployment["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == dockerfile_uid()
    for container in containers(deployment):
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{container['name']}: {kind}"


def test_the_worker_deployment_has_replicas() -> None:
    assert k8s_object("worker.yaml", "Deployment")["spec"]["replicas"] >= 1


def test_the_autoscaler_scales_the_worker_deployment_on_cpu() -> None:
    (hpa,) = k8s_documents("hpa.yaml")
    worker = k8s_object("worker.yaml", "Deployment")
    assert (hpa["apiVersion"], hpa["kind"]) == ("autoscaling/v2", "HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        worker["apiVersion"], worker["kind"], worker["metadata"]["name"])
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource"
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"


def test_compose_and_kubernetes_run_the_same_image() -> None:
    images = {c["image"] for name in ("broker.yaml", "worker.yaml")
              for c in containers(k8s_object(name, "Deployment"))}
    assert images == {service["image"] for service in compose()["services"].values()}


# ---------------------------------------------------------------------------
# The commands, and the ports they agree on


def test_every_file_runs_the_broker_or_the_worker() -> None:
    assert sorted(c.where for c in COMMANDS) == sorted([
        "wasmpool-broker.service:ExecStart", "wasmpool-worker@.service:ExecStart", "Dockerfile:CMD",
        "docker-compose.yml:broker", "docker-compose.yml:worker",
        "k8s/broker.yaml:wasmpool-broker/broker", "k8s/worker.yaml:wasmpool-worker/worker"])


@pytest.mark.parametrize("command", command_params())
def test_a_command_uses_only_the_pool_command_forms(command: Command) -> None:
    assert command.subcommand in COMMAND_FORMS
    options = command.options()
    assert sorted(options) == sorted(COMMAND_FORMS[command.subcommand])
    if command.subcommand == "broker":
        assert (command.host("--frontend"), command.host("--backend")) == ("*", "*")
        assert options["--state"] == STATE_URL
    else:
        assert int(options["--processes"]) >= 1


@pytest.mark.parametrize("command", command_params())
def test_a_command_is_accepted_by_the_real_command_line(command: Command) -> None:
    if command.subcommand not in available():
        pytest.skip(f"`wasmpool {command.subcommand}` is not available yet (its module is not installed)")
    try:
        args = build_parser().parse_args(list(command.argv))
    except SystemExit as exc:
        pytest.fail(f"{command.where}: `wasmpool {shlex.join(command.argv)}` was refused (exit {exc.code})")
    assert args.command == command.subcommand


def test_every_broker_binds_the_frontend_and_backend_ports() -> None:
    brokers = commands_of("broker")
    assert len(brokers) == 4
    for broker in brokers:
        ports = (broker.port("--frontend"), broker.port("--backend"))
        assert ports == (FRONTEND_PORT, BACKEND_PORT), broker.where


def test_every_worker_connects_to_the_backend_port_of_a_known_broker() -> None:
    service = k8s_object("broker.yaml", "Service")["metadata"]["name"]
    expected_hosts = {"wasmpool-worker@.service:ExecStart": SAMPLE_INSTANCE,
                      "docker-compose.yml:worker": "broker",
                      "k8s/worker.yaml:wasmpool-worker/worker": service}
    workers = commands_of("worker")
    assert {worker.where: worker.host("--connect") for worker in workers} == expected_hosts
    assert all(worker.port("--connect") == BACKEND_PORT for worker in workers)


def test_the_dockerfile_exposes_the_command_ports() -> None:
    exposed = {int(port) for word, args in dockerfile_instructions(DOCKERFILE) if word == "EXPOSE"
               for port in args.split()}
    assert exposed == {FRONTEND_PORT, BACKEND_PORT}


def test_compose_exposes_the_command_ports_on_the_broker() -> None:
    broker = compose()["services"]["broker"]
    published = {int(mapping.rsplit(":", 1)[1]) for mapping in broker["ports"]}
    assert published == {FRONTEND_PORT}, "clients reach the frontend from the host"
    assert published | {int(port) for port in broker["expose"]} == {FRONTEND_PORT, BACKEND_PORT}


def test_the_kubernetes_service_exposes_the_command_ports() -> None:
    (container,) = containers(k8s_object("broker.yaml", "Deployment"))
    container_ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert container_ports == {"frontend": FRONTEND_PORT, "backend": BACKEND_PORT}
    service_ports = k8s_object("broker.yaml", "Service")["spec"]["ports"]
    routed = {port["name"]: (port["port"], container_ports[port["targetPort"]]) for port in service_ports}
    assert routed == {"frontend": (FRONTEND_PORT, FRONTEND_PORT), "backend": (BACKEND_PORT, BACKEND_PORT)}


# ---------------------------------------------------------------------------
# docs/deploy.md


def docs_commands() -> list[Any]:
    """Every ``wasmpool ...`` line of the guide's ``sh`` code blocks."""
    text = DOCS.read_text(encoding="utf-8")
    params: list[Any] = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == "wasmpool":
                params.append(pytest.param(words[1:], id=f"{words[1]}-{len(params)}"))
    return params


def test_the_guide_covers_every_deployment_file() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file()):
        assert f"`{path.relative_to(REPO_ROOT).as_posix()}`" in text, path
    for phrase in ("docker compose -f deploy/docker-compose.yml up --scale worker=8",
                   "wasmpool keys generate", "--curve-secret", "--curve-public-dir",
                   "systemctl enable --now wasmpool-broker", "kubectl apply -f deploy/k8s/broker.yaml"):
        assert phrase in text


def test_the_guide_shows_the_commands_of_the_deployment_files() -> None:
    shown = {tuple(p.values[0]) for p in docs_commands()}
    assert next(iter(commands_of("broker"))).argv in shown


@pytest.mark.parametrize("argv", docs_commands())
def test_the_guide_commands_are_accepted_by_the_real_command_line(argv: list[str]) -> None:
    if argv[0] not in available():
        pytest.skip(f"`wasmpool {argv[0]}` is not available yet (its module is not installed)")
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:
        if any(word.startswith("--curve-") for word in argv):
            pytest.skip(f"`wasmpool {argv[0]}` has no --curve-secret/--curve-public-dir options yet")
        pytest.fail(f"`wasmpool {shlex.join(argv)}` was refused")
    assert args.command == argv[0]

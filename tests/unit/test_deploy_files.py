"""The Procfile, Dockerfile and docker-compose.yml, checked statically (no Docker engine here)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from config import SETTINGS, load_config
from harness.service_processes import worker_argv, worker_dramatiq_env

REPO = Path(__file__).resolve().parents[2]


def _procfile() -> dict[str, str]:
    entries = {}
    for line in (REPO / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


def _compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _procfile_variables() -> dict[str, str]:
    """The variables the Procfile's shell reads itself, each with the default written there."""
    variables: dict[str, str] = {}
    for name, default in re.findall(r"\$\{([A-Z_]+):-([^}]*)\}", (REPO / "Procfile").read_text()):
        assert variables.setdefault(name, default) == default, f"{name} has two defaults in the Procfile"
    return variables


def _env_example() -> dict[str, str]:
    """Each variable .env.example documents, with the value it shows (the default)."""
    return {
        match.group(1): match.group(2)
        for line in (REPO / ".env.example").read_text().splitlines()
        if (match := re.match(r"# ([A-Z_]+)=(.*)", line))
    }


def _readme_table() -> dict[str, str]:
    """Each variable of the configuration table (docs/configuration.md), with the default it shows
    ("" for none)."""
    section = (REPO / "docs" / "configuration.md").read_text()
    table = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        variables, _meaning, defaults = (cell.strip() for cell in line.strip().strip("|").split("|"))
        names = re.findall(r"`([A-Z_]+)`", variables)
        # "`HOST` / `PORT`" rows give "`127.0.0.1` / `3000`"; the first `value` of each is the default.
        shown = defaults.split(" / ") if len(names) > 1 else [defaults]
        assert len(shown) == len(names), line
        for name, text in zip(names, shown, strict=True):
            table[name] = match.group(1) if (match := re.search(r"`([^`]*)`", text)) else ""
    return table


def _is_the_default(name: str, written: str) -> bool:
    """Whether `written`, as the value of `name`, configures what leaving `name` unset does."""
    if not written.strip():
        # A blank value reads as unset; only a setting whose default is "none" may show one.
        return SETTINGS[name].default is None
    attribute = SETTINGS[name].name
    return bool(getattr(load_config({name: written}), attribute) == getattr(load_config({}), attribute))


def _dockerfile() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_the_procfile_runs_gunicorn_and_the_supervised_dramatiq_worker() -> None:
    procfile = _procfile()
    assert set(procfile) == {"web", "worker"}
    assert procfile["web"].startswith("gunicorn ")
    assert "'api.app:get_app()'" in procfile["web"]
    assert "bin/supervise dramatiq actors" in procfile["worker"]
    assert "--processes ${WORKER_PROCESSES:-1} --threads ${WORKER_THREADS:-1}" in procfile["worker"]


def test_the_tests_run_the_worker_as_the_procfile_does() -> None:
    """The end-to-end tests prove something of the Procfile's worker only if they run the same."""
    command = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", _procfile()["worker"])
    words = shlex.split(command)
    variables = dict(word.split("=", 1) for word in words if re.fullmatch(r"\w+=\S*", word))
    argv = [word for word in words if not re.fullmatch(r"\w+=\S*", word)]
    defaults = load_config({})
    tests_argv = worker_argv(processes=1, threads=1, shutdown_ms=defaults.worker_shutdown_ms)
    assert [Path(tests_argv[0]).name, Path(tests_argv[1]).name, *tests_argv[2:]] == [
        Path(argv[0]).name,
        *argv[1:],
    ]
    assert worker_dramatiq_env(threads=1) == variables


def test_compose_has_the_four_services_with_healthchecks_and_restart_policies() -> None:
    services = _compose()["services"]
    assert set(services) == {"postgres", "rabbitmq", "web", "worker"}
    for name, service in services.items():
        assert "healthcheck" in service, name
        assert service.get("restart") in ("unless-stopped", "always", "on-failure"), name
    assert "127.0.0.1:15672:15672" in services["rabbitmq"]["ports"]
    assert services["rabbitmq"]["image"].endswith("-management")
    assert "127.0.0.1:3000:3000" in services["web"]["ports"]


def test_compose_publishes_every_port_on_the_loopback_interface_only() -> None:
    published = [
        (name, port) for name, service in _compose()["services"].items() for port in service.get("ports", [])
    ]
    assert {str(port).rsplit(":", 1)[1] for _, port in published} == {"5432", "5672", "15672", "3000"}
    for name, port in published:
        # host address, host port, container port: nothing on 0.0.0.0 or [::].
        assert isinstance(port, str), name
        assert port.startswith("127.0.0.1:"), f"{name}: {port}"
        assert port.count(":") == 2, f"{name}: {port}"
    readme = (REPO / "README.md").read_text()
    assert "docker-compose.override.yml" in readme, "the README says how to open a port"


def test_the_s3_override_points_web_and_worker_at_a_bucket_of_its_private_s3_service() -> None:
    override = yaml.safe_load((REPO / "docker-compose.s3.yml").read_text())
    services = override["services"]
    assert "ports" not in services["s3"], "only web and worker reach the S3 server"
    assert "healthcheck" in services["s3"]
    assert "rclone serve s3 /data --addr :9000" in services["s3"]["command"][0]
    for name in ("web", "worker"):
        environment = services[name]["environment"]
        assert environment["THUMBS_BUCKET"] == "thumbs"
        assert environment["AWS_ENDPOINT_URL"] == "http://s3:9000"
        assert environment["AWS_ACCESS_KEY_ID"] == services["s3"]["environment"]["AWS_ACCESS_KEY_ID"]
        assert services[name]["depends_on"] == {"s3": {"condition": "service_healthy"}}
    assert "mkdir -p /data/thumbs" in services["s3"]["command"][0], (
        "the bucket exists before the server starts"
    )
    makefile = (REPO / "Makefile").read_text()
    assert "docker compose -f docker-compose.yml -f docker-compose.s3.yml up" in makefile


def test_web_and_worker_run_the_procfile_entries_of_one_image_once_the_services_are_healthy() -> None:
    services = _compose()["services"]
    procfile = _procfile()
    for name in ("web", "worker"):
        service = services[name]
        assert service["command"] == ["honcho", "start", name]
        assert name in procfile
        assert service["build"] == "."
        assert service["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "rabbitmq": {"condition": "service_healthy"},
        }
        assert "./waldo-app-thumbs:/waldo-app-thumbs" in service["volumes"]
        assert service["environment"]["THUMBS_DIR"] == "/waldo-app-thumbs"
        assert "ALLOW_PRIVATE_SOURCES" not in service["environment"], "Compose keeps the SSRF guard on"


def test_the_dockerfile_builds_from_files_that_exist_and_runs_as_a_user_not_root() -> None:
    instructions = _dockerfile()
    assert instructions[0] == ("FROM", "python:3.11-slim-bookworm")
    for keyword, argument in instructions:
        if keyword == "COPY":
            *sources, _destination = shlex.split(argument)
            for source in sources:
                assert (REPO / source).exists(), source
    runs = " ".join(argument for keyword, argument in instructions if keyword == "RUN")
    assert "-r requirements.txt" in runs
    assert "requirements-dev" not in runs, "only runtime dependencies go into the image"
    users = [argument for keyword, argument in instructions if keyword == "USER"]
    assert users
    assert users[-1] not in ("root", "0")
    entrypoint = dict(instructions)["ENTRYPOINT"]
    assert (REPO / yaml.safe_load(entrypoint)[0]).stat().st_mode & 0o111
    assert yaml.safe_load(dict(instructions)["CMD"]) == ["honcho", "start", "web"]


def test_the_entrypoint_migrates_before_running_the_command() -> None:
    script = (REPO / "bin" / "docker-entrypoint").read_text()
    migrate = script.index("python -m service migrate")
    assert migrate < script.index('exec "$@"')


def test_requirements_pin_every_package_exactly() -> None:
    for name in ("requirements.txt", "requirements-dev.txt", "requirements-bench.txt"):
        for line in (REPO / name).read_text().splitlines():
            line = line.strip()
            if not line or line.startswith(("#", "-r ")):
                continue
            assert re.fullmatch(r"[A-Za-z0-9_.\-\[\],]+==[A-Za-z0-9_.+\-]+", line), f"{name}: {line}"


def test_env_example_documents_every_variable_the_service_reads() -> None:
    # What a Python process reads is config.py's table; what only a shell reads is in the Procfile.
    read = set(SETTINGS) | set(_procfile_variables())
    documented = set(_env_example())
    assert read
    assert read == documented


def test_env_example_shows_the_default_of_each_variable() -> None:
    for name, written in _env_example().items():
        if name in SETTINGS:
            assert _is_the_default(name, written), f"{name}={written}"
        else:
            assert written == _procfile_variables()[name], f"{name}={written}"


def test_every_variable_of_env_example_is_in_the_configuration_table() -> None:
    readme = (REPO / "docs" / "configuration.md").read_text()
    for line in (REPO / ".env.example").read_text().splitlines():
        if match := re.match(r"# ([A-Z_]+)=", line):
            assert f"`{match.group(1)}`" in readme, match.group(1)


def test_the_configuration_table_has_every_variable_with_its_default() -> None:
    table = _readme_table()
    for name in SETTINGS:
        assert name in table, name
        assert _is_the_default(name, table[name]), f"{name}: {table[name]}"
    for name, default in _procfile_variables().items():
        assert table.get(name) == default, name


def test_the_readme_names_the_ports_and_the_thumbnails_folder_that_compose_uses() -> None:
    readme = (REPO / "README.md").read_text()
    services = _compose()["services"]
    assert "http://localhost:3000/" in readme
    assert "127.0.0.1:3000:3000" in services["web"]["ports"]
    assert "http://localhost:15672/" in readme
    assert "127.0.0.1:15672:15672" in services["rabbitmq"]["ports"]
    assert "./waldo-app-thumbs" in readme
    assert "make docker-up" in readme
    assert "make docker-down" in readme
    makefile = (REPO / "Makefile").read_text()
    assert "docker-up:" in makefile
    assert "docker-down:" in makefile

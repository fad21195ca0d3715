"""The Dockerfile, parsed with dockerfile-parse: stages, user, entry point and ports agree
with the chart, and it installs exactly the tested pins, with hashes. (tests/e2e/
test_image.py builds the image and runs it.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from testenv import settings

ROOT = settings.REPO_ROOT
ENTRYPOINT = '["python", "-m", "modelrollout"]'


@pytest.fixture(scope="module")
def instructions() -> list[dict[str, Any]]:
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    return list(parser.structure)


def stages(instructions: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    found: list[list[dict[str, Any]]] = []
    for instruction in instructions:
        if instruction["instruction"] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def values(stage: list[dict[str, Any]], name: str) -> list[str]:
    return [i["value"] for i in stage if i["instruction"] == name]


def chart_values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(
        (ROOT / "charts" / "modelrollout" / "values.yaml").read_text()
    )
    return loaded


def test_multi_stage_and_the_runtime_stage_only_copies_the_built_env(
    instructions: list[dict[str, Any]],
) -> None:
    build, runtime = stages(instructions)
    assert values(build, "FROM")[0].endswith(" AS build")
    assert values(build, "FROM")[0].split()[0] == values(runtime, "FROM")[0]  # same Python
    copies = values(runtime, "COPY")
    assert copies == ["--from=build /opt/modelrollout /opt/modelrollout"]
    assert not values(runtime, "RUN"), "the runtime stage installs nothing"


def test_runs_as_the_charts_non_root_user_with_the_module_entrypoint(
    instructions: list[dict[str, Any]],
) -> None:
    runtime = stages(instructions)[-1]
    (user,) = values(runtime, "USER")
    uid, gid = (int(part) for part in user.split(":"))  # numeric: runAsNonRoot can verify it
    pod = chart_values()["podSecurityContext"]
    assert uid != 0
    assert (uid, gid) == (pod["runAsUser"], pod["runAsGroup"])
    assert values(runtime, "ENTRYPOINT") == [ENTRYPOINT]
    exposed = {int(p) for v in values(runtime, "EXPOSE") for p in v.split()}
    assert exposed == set(chart_values()["ports"].values())


def copied_sources(instructions: list[dict[str, Any]]) -> list[str]:
    sources: list[str] = []
    for copy in values(stages(instructions)[0], "COPY"):
        sources += copy.split()[:-1]
    return sources


def test_dockerignore_lets_exactly_the_copied_sources_through(
    instructions: list[dict[str, Any]],
) -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line for line in lines if line and not line.startswith("#")]
    assert patterns[0] == "*", "ignore everything, then let the sources through"
    let_through = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert let_through == {s.rstrip("/") for s in copied_sources(instructions)}


def pins(lock: Path) -> dict[str, str]:
    found = {}
    for line in lock.read_text().splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            name, version = line.split(" ")[0].split("==")
            found[name] = version
    return found


def test_the_image_installs_the_runtime_lock_with_hashes_from_a_wheelhouse_only(
    instructions: list[dict[str, Any]],
) -> None:
    """Every runtime package pinned as in the tested lock, with hashes; the build reads
    no index; the base pinned by digest."""
    build = stages(instructions)[0]
    runs = " ".join(values(build, "RUN"))
    assert "--require-hashes" in runs
    assert "PIP_NO_INDEX=1" in " ".join(values(build, "ENV"))
    runtime, tested = pins(ROOT / "requirements-runtime.lock"), pins(ROOT / "requirements.lock")
    assert runtime, "requirements-runtime.lock pins nothing"
    assert {name: tested.get(name) for name in runtime} == runtime, "run `make lock`"
    text = (ROOT / "requirements-runtime.lock").read_text()
    assert all("--hash=sha256:" in pin for pin in text.split("==")[1:]), "a pin without a hash"
    (base,) = [i["value"] for i in instructions if i["instruction"] == "ARG"]
    assert "@sha256:" in base, "the base image pinned by digest"

"""The Dockerfile, checked as far as it can be without a Docker engine (none on this machine).

Parsed with dockerfile-parse: stages, user, entry point and ports agree with the chart. Then
its build step is replayed outside Docker: a wheel built from exactly the files the
Dockerfile copies must run `python -m modelrollout` with nothing else on the path.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
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


def test_the_build_step_replayed_outside_docker_runs_the_operator(
    instructions: list[dict[str, Any]], tmp_path: Path
) -> None:
    context = tmp_path / "context"
    context.mkdir()
    for source in copied_sources(instructions):
        path = ROOT / source
        assert path.exists(), f"the Dockerfile copies {source}, which does not exist"
        if path.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(path, context / source, ignore=ignore)
        else:
            shutil.copy(path, context / source)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), "."],
        cwd=context,
        check=True,
    )
    (wheel,) = wheels.glob("modelrollout-*.whl")
    installed = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(installed)
    assert any(n.endswith("LICENSE") for n in zipfile.ZipFile(wheel).namelist())
    run = subprocess.run(
        [sys.executable, "-m", "modelrollout", "--help"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "--metrics-port" in run.stdout
    where = subprocess.run(
        [sys.executable, "-c", "import modelrollout; print(modelrollout.__file__)"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(installed)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(installed)), "imported the source tree, not the wheel"

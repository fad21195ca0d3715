"""`kubectl modelrollout COMMAND NAME`: status, history and manual requests.

Exit codes: 0 done (lint: valid); 1 the request makes no sense in the current phase
(lint: problems found); 2 usage or unreadable file;
3 no such ModelDeployment (in that namespace); 4 the cluster refused or is unreachable.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from rich.console import Console
from rich.live import Live
from rich.markup import escape

from modelrollout.api.crd import GROUP, PLURAL, VERSION
from modelrollout.api.spec import ModelDeploymentSpec
from modelrollout.api.status import ModelDeploymentStatus
from modelrollout.api.vocabulary import REQUEST_ANNOTATION
from modelrollout.cli.lint import lint_file
from modelrollout.cli.requests import refusal, undo_target
from modelrollout.cli.undo import UndoRefused, undo_patch, verified_source
from modelrollout.cli.view import history_table, render, shown
from modelrollout.engine.model import RequestAction
from modelrollout.engine.request_token import mint
from modelrollout.workloads.render import deployment_name

OK, NONSENSE, USAGE, NOT_FOUND, CLUSTER = 0, 1, 2, 3, 4
REQUESTS: dict[str, RequestAction] = {
    "abort": "abort",
    "retry": "retry",
    "pause": "pause",
    "resume": "resume",
}


class Failure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _api(context: str | None) -> tuple[client.CustomObjectsApi, str]:
    try:
        config.load_kube_config(context=context)  # type: ignore[no-untyped-call]
    except config.ConfigException as exc:
        raise Failure(CLUSTER, f"no usable kubeconfig: {exc}") from exc
    _, active = config.list_kube_config_contexts()  # type: ignore[no-untyped-call]
    namespace = (active or {}).get("context", {}).get("namespace", "default")
    return client.CustomObjectsApi(), namespace


def _get(custom: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    try:
        return cast(
            dict[str, Any],
            custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name),
        )
    except ApiException as exc:
        if exc.status == 404:
            raise Failure(
                NOT_FOUND,
                f'ModelDeployment "{name}" not found in namespace "{namespace}" '
                "(use -n NAMESPACE; `kubectl get md -A` lists them all)",
            ) from exc
        raise Failure(CLUSTER, f"the cluster refused: {exc.status} {exc.reason}") from exc
    except Exception as exc:  # connection refused, TLS, DNS
        raise Failure(CLUSTER, f"cannot reach the cluster: {exc}") from exc


def _status(body: dict[str, Any]) -> ModelDeploymentStatus:
    return ModelDeploymentStatus.model_validate(body.get("status") or {})


def request(
    custom: client.CustomObjectsApi, namespace: str, name: str, action: RequestAction
) -> str:
    body = _get(custom, namespace, name)
    why_not = refusal(action, _status(body))
    if why_not is not None:
        raise Failure(NONSENSE, f"{action} refused: {why_not}")
    token = mint(action, datetime.now(UTC))
    patch = {"metadata": {"annotations": {REQUEST_ANNOTATION: token}}}
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, patch)
    return token


def undo(custom: client.CustomObjectsApi, namespace: str, name: str) -> str:
    """Put back the spec of the previous stable revision, exactly (cli.undo); the
    operator rolls it out as any spec change: a canary or blue/green, judged like the rest."""
    body = _get(custom, namespace, name)
    status = _status(body)
    if status.canary is not None:
        raise Failure(NONSENSE, "undo refused: a rollout is in progress (abort it first)")
    try:
        entry = undo_target(status)
    except LookupError as exc:
        raise Failure(NONSENSE, f"undo refused: {exc}") from exc
    revision = entry.from_revision
    apps = client.AppsV1Api()
    try:
        found = apps.read_namespaced_deployment(deployment_name(name, revision), namespace)
    except ApiException as exc:
        raise Failure(
            NONSENSE,
            f"undo refused: revision {revision} is no longer kept (revisionHistoryLimit)",
        ) from exc
    deployment = apps.api_client.sanitize_for_serialization(found)
    try:
        source = verified_source(entry, body["metadata"]["uid"], deployment)
    except UndoRefused as exc:
        raise Failure(NONSENSE, f"undo refused: {exc}") from exc
    try:
        patched = custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            undo_patch(body, source),
            _content_type="application/json-patch+json",
        )
    except ApiException as exc:
        if exc.status == 422:  # the test of the resourceVersion failed
            raise Failure(
                NONSENSE, "undo: the ModelDeployment changed meanwhile; run it again"
            ) from exc
        raise
    written = ModelDeploymentSpec.model_validate(cast(dict[str, Any], patched)["spec"])
    if written.revision() != revision:
        raise Failure(NONSENSE, f"undo wrote revision {written.revision()}, not {revision}")
    return f"{source['model']['version']} ({revision})"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="kubectl modelrollout",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    parser.add_argument("--context", help="kubeconfig context")
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", help="phase, steps, weights, measurements")
    status.add_argument("name")
    status.add_argument("-w", "--watch", action="store_true", help="keep the view live")
    commands.add_parser("history", help="finished rollouts").add_argument("name")
    promote = commands.add_parser("promote", help="end the current step (or all: --full)")
    promote.add_argument("name")
    promote.add_argument("--full", action="store_true", help="skip the remaining steps")
    commands.add_parser("lint", help="check a ModelDeployment file offline").add_argument(
        "file", type=Path
    )
    commands.add_parser("undo", help="roll out the previous stable version again").add_argument(
        "name"
    )
    for name, text in (
        ("abort", "roll back now"),
        ("retry", "start a rolled-back version again"),
        ("pause", "hold the rollout"),
        ("resume", "continue a paused rollout"),
    ):
        commands.add_parser(name, help=text).add_argument("name")
    return parser.parse_args(argv)


def lint(path: Path, console: Console) -> int:
    try:
        checked, problems = lint_file(path)
    except (OSError, yaml.YAMLError) as exc:
        raise Failure(USAGE, f"cannot read {path}: {exc}") from exc
    if not checked:
        raise Failure(NONSENSE, f"{path} holds no ModelDeployment")
    for problem in problems:
        console.print(f"[red]✗[/red] {escape(str(problem))}", highlight=False)
    if problems:
        return NONSENSE
    console.print(f"[green]✓[/green] {path}: {checked} ModelDeployment(s) valid")
    return OK


def run(args: argparse.Namespace, console: Console) -> int:
    if args.command == "lint":
        return lint(args.file, console)
    custom, default_namespace = _api(args.context)
    namespace = args.namespace or default_namespace
    if args.command in ("promote", *REQUESTS):
        action: RequestAction = (
            ("promote-full" if args.full else "promote")
            if args.command == "promote"
            else REQUESTS[args.command]
        )
        token = request(custom, namespace, args.name, action)
        console.print(shown(f"{action} requested for {namespace}/{args.name} ({token})"))
        return OK
    if args.command == "undo":
        console.print(
            shown(
                f"undo: {namespace}/{args.name} goes back to {undo(custom, namespace, args.name)}"
            )
        )
        return OK
    body = _get(custom, namespace, args.name)
    if args.command == "history":
        console.print(history_table(_status(body)))
        return OK
    spec = ModelDeploymentSpec.model_validate(body["spec"])
    if not args.watch:
        console.print(render(args.name, spec, _status(body)))
        return OK
    with Live(
        render(args.name, spec, _status(body)), console=console, refresh_per_second=4
    ) as live:
        try:
            while True:
                time.sleep(1)
                body = _get(custom, namespace, args.name)
                spec = ModelDeploymentSpec.model_validate(body["spec"])
                live.update(render(args.name, spec, _status(body)))
        except KeyboardInterrupt:
            return OK


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console()
    try:
        return run(args, console)
    except Failure as failure:
        Console(stderr=True).print("[red]error:[/red]", shown(failure))
        return failure.code


if __name__ == "__main__":
    sys.exit(main())

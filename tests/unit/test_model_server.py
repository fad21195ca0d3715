"""The example model server: its model, its fault switches, its HTTP answers and metrics."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_iris

from model_server.app import Identity, create_app
from model_server.faults import Faults
from model_server.model import BadInput, Model
from model_server.train import train

IDENTITY = Identity(namespace="ml", model="iris", version="2.0.0", revision="abc123")
SETOSA = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture(scope="module")
def trained() -> tuple[dict[str, Any], Any]:
    return train()


@pytest.fixture(scope="module")
def model(trained: tuple[dict[str, Any], Any], tmp_path_factory: pytest.TempPathFactory) -> Model:
    path = tmp_path_factory.mktemp("model") / "model.json"
    path.write_text(json.dumps(trained[0]))
    return Model.load(path)  # through the file, as the server loads it


# -- the model -----------------------------------------------------------------------


def test_artifact_reproduces_scikit_learn_on_the_whole_data_set(
    trained: tuple[dict[str, Any], Any], model: Model
) -> None:
    _, pipeline = trained
    data = load_iris().data
    np.testing.assert_allclose(
        model.probabilities(data.tolist()), pipeline.predict_proba(data), rtol=1e-9, atol=1e-12
    )
    labels = [p["label"] for p in model.predict(data.tolist())]
    assert labels == [model.classes[i] for i in pipeline.predict(data)]


def test_the_model_has_learned_something(trained: tuple[dict[str, Any], Any]) -> None:
    assert trained[0]["training_accuracy"] > 0.95


def test_prediction_has_a_label_and_probabilities_summing_to_one(model: Model) -> None:
    [prediction] = model.predict([SETOSA])
    assert prediction["label"] == "setosa"
    assert set(prediction["probabilities"]) == {"setosa", "versicolor", "virginica"}
    assert sum(prediction["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    "instances",
    [[], "x", [[1, 2, 3]], [[1, 2, 3, "4"]], [[1, 2, 3, True]], [SETOSA, [1]], [[1, 2, 3, 1e400]]],
)
def test_bad_instances_are_refused(model: Model, instances: Any) -> None:
    with pytest.raises(BadInput):
        model.predict(instances)


def test_artifact_with_wrong_shapes_is_refused(trained: tuple[dict[str, Any], Any]) -> None:
    artifact = dict(trained[0], coef=[[1.0, 2.0]])
    with pytest.raises(ValueError, match="shapes"):
        Model.from_artifact(artifact)
    with pytest.raises(ValueError, match="unsupported"):
        Model.from_artifact(dict(trained[0], kind="pickle"))


# -- fault switches --------------------------------------------------------------------


def test_faults_default_to_none() -> None:
    assert Faults.from_env({}) == Faults()


def test_faults_are_read_from_the_environment() -> None:
    env = {
        "MODEL_FAULT_ERROR_RATE": "0.5",
        "MODEL_FAULT_LATENCY_SECONDS": "0.2",
        "MODEL_FAULT_SLOW_START_SECONDS": "30",
        "MODEL_FAULT_DRIFT_SHARE": "0.3",
        "MODEL_FAULT_INVALID_OUTPUT_SHARE": "0.1",
        "MODEL_FAULT_LATENCY_SPREAD": "0.5",
    }
    assert Faults.from_env(env) == Faults(0.5, 0.2, 30.0, 0.3, 0.1, 0.5)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ERROR_RATE", "1.5"),
        ("ERROR_RATE", "-0.1"),
        ("LATENCY_SECONDS", "abc"),
        ("ERROR_RATE", "nan"),
        ("DRIFT_SHARE", "2"),
        ("INVALID_OUTPUT_SHARE", "-1"),
    ],
)
def test_bad_fault_values_are_refused_with_the_variable_named(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"MODEL_FAULT_{name}"):
        Faults.from_env({f"MODEL_FAULT_{name}": value})


# -- the HTTP server -------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def serve(
    model: Model,
    faults: Faults,
    check: Callable[[TestClient[Any, Any]], Awaitable[None]],
    clock: Callable[[], float] | None = None,
) -> None:
    async def run() -> None:
        app = create_app(
            model, IDENTITY, faults, rng=random.Random(1), **({"clock": clock} if clock else {})
        )
        async with TestClient(TestServer(app)) as client:
            await check(client)

    asyncio.run(run())


async def samples(
    client: TestClient[Any, Any],
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = await (await client.get("/metrics")).text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def requests_counted(found: dict[Any, float], code: str) -> float:
    labels = (("code", code), ("model", "iris"), ("namespace", "ml"), ("version", "2.0.0"))
    return found.get(("model_requests_total", labels), 0.0)


def test_predict_answers_and_counts_by_code(model: Model) -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        response = await client.post("/predict", json={"instances": [SETOSA, SETOSA]})
        assert response.status == 200
        assert response.headers["X-Model-Version"] == "2.0.0"
        assert response.headers["X-Model-Revision"] == "abc123"
        body = await response.json()
        assert [p["label"] for p in body["predictions"]] == ["setosa", "setosa"]
        assert body["version"] == "2.0.0"
        assert (await client.post("/predict", json={"rows": []})).status == 400
        assert (await client.post("/predict", data=b"{not json")).status == 400
        found = await samples(client)
        assert requests_counted(found, "200") == 1
        assert requests_counted(found, "400") == 2
        hist = (
            "model_request_duration_seconds_count",
            (("model", "iris"), ("namespace", "ml"), ("version", "2.0.0")),
        )
        assert found[hist] == 3

    serve(model, Faults(), check)


@pytest.mark.parametrize("rate", [0.0, 0.5, 1.0])
def test_error_rate_switch_fails_that_share_of_requests(model: Model, rate: float) -> None:
    total = 400

    async def check(client: TestClient[Any, Any]) -> None:
        codes = [
            (await client.post("/predict", json={"instances": [SETOSA]})).status
            for _ in range(total)
        ]
        failed = codes.count(500)
        assert codes.count(200) + failed == total
        # binomial(400, 0.5) lies within 0.5 +- 0.1 with probability 1 - 6e-5
        assert abs(failed / total - rate) <= 0.1
        found = await samples(client)
        assert requests_counted(found, "500") == failed
        assert requests_counted(found, "200") == total - failed

    serve(model, Faults(error_rate=rate), check)


def test_latency_switch_adds_latency_to_every_request(model: Model) -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        for _ in range(3):
            assert (await client.post("/predict", json={"instances": [SETOSA]})).status == 200
        found = await samples(client)
        labels = (("model", "iris"), ("namespace", "ml"), ("version", "2.0.0"))
        below = found[("model_request_duration_seconds_bucket", (("le", "0.1"), *labels))]
        assert below == 0  # every one took longer than the 0.15 s added
        assert found[("model_request_duration_seconds_count", labels)] == 3

    serve(model, Faults(latency_seconds=0.15), check)


def test_a_latency_spread_varies_the_added_latency_around_its_median() -> None:
    faults, chance = Faults(latency_seconds=0.02, latency_spread=0.5), random.Random(7)
    delays = sorted(faults.delay(chance) for _ in range(2001))
    assert 0.018 < delays[1000] < 0.022, "the median"
    assert delays[0] < 0.01 < 0.04 < delays[-1], "spread both ways"
    assert Faults(latency_seconds=0.02).delay(chance) == 0.02


def test_slow_start_keeps_readiness_off_until_it_is_over(model: Model) -> None:
    clock = FakeClock()

    async def check(client: TestClient[Any, Any]) -> None:
        assert (await client.get("/healthz")).status == 200  # alive while loading
        assert (await client.get("/ready")).status == 503
        clock.now += 29.9
        assert (await client.get("/ready")).status == 503
        clock.now += 0.2
        assert (await client.get("/ready")).status == 200

    serve(model, Faults(slow_start_seconds=30), check, clock)


MINE = (("model", "iris"), ("namespace", "ml"), ("version", "2.0.0"))


def test_every_counter_starts_at_zero_for_the_codes_and_classes_it_knows(model: Model) -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        found = await samples(client)
        for code in ("200", "400", "500"):
            assert requests_counted(found, code) == 0
        for name in model.classes:
            assert found[("model_predictions_total", (("class", name), *MINE))] == 0
        assert found[("model_input_invalid_total", MINE)] == 0
        assert found[("model_output_invalid_total", MINE)] == 0
        assert found[("model_prediction_score_count", MINE)] == 0

    serve(model, Faults(), check)


def test_inputs_are_validated_and_predictions_counted_by_class(model: Model) -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        for row in (SETOSA, [6.3, 3.3, 6.0, 2.5]):
            assert (await client.post("/predict", json={"instances": [row]})).status == 200
        outside = await client.post("/predict", json={"instances": [[51.0, 3.5, 1.4, 0.2]]})
        assert outside.status == 400
        assert "outside the range the model was trained for" in (await outside.json())["error"]
        short = await client.post("/predict", json={"instances": [[5.1, 3.5]]})
        assert short.status == 400
        found = await samples(client)
        assert found[("model_input_invalid_total", MINE)] == 2
        assert found[("model_predictions_total", (("class", "setosa"), *MINE))] == 1
        assert found[("model_predictions_total", (("class", "virginica"), *MINE))] == 1
        assert found[("model_prediction_score_count", MINE)] == 2

    serve(model, Faults(), check)


def test_a_click_is_an_answer_that_is_the_class_the_request_expected(model: Model) -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        for expected in ("setosa", "virginica", None):
            headers = {"X-Expected-Label": expected} if expected else {}
            response = await client.post("/predict", json={"instances": [SETOSA]}, headers=headers)
            assert response.status == 200
        found = await samples(client)
        assert found[("model_clicks_total", MINE)] == 1

    serve(model, Faults(), check)


def test_the_drift_switch_answers_quickly_and_healthily_but_wrong(model: Model) -> None:
    virginica = [6.3, 3.3, 6.0, 2.5]

    async def check(client: TestClient[Any, Any]) -> None:
        labels = []
        for _ in range(200):
            response = await client.post("/predict", json={"instances": [virginica]})
            assert response.status == 200
            labels.append((await response.json())["predictions"][0]["label"])
        # binomial(200, 0.5): within 0.5 +- 0.15 with probability 1 - 3e-5
        assert abs(labels.count("setosa") / 200 - 0.5) <= 0.15
        assert set(labels) == {"setosa", "virginica"}
        found = await samples(client)
        assert requests_counted(found, "200") == 200
        assert found[("model_output_invalid_total", MINE)] == 0, "wrong, yet valid"

    serve(model, Faults(drift_share=0.5), check)


def test_invalid_outputs_are_refused_and_counted_never_sent(model: Model) -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        response = await client.post("/predict", json={"instances": [SETOSA, SETOSA]})
        assert response.status == 500
        assert "predictions" not in await response.json()
        found = await samples(client)
        assert found[("model_output_invalid_total", MINE)] == 2
        assert found[("model_predictions_total", (("class", "setosa"), *MINE))] == 0

    serve(model, Faults(invalid_output_share=1.0), check)


def test_output_validation_knows_a_probability(model: Model) -> None:
    [good] = model.predict([SETOSA])
    assert model.valid(good)
    for bad in (
        {**good, "label": "unicorn"},
        {**good, "probabilities": {**good["probabilities"], "setosa": 1.5}},
        {**good, "probabilities": {c: 0.1 for c in model.classes}},
        {"label": "setosa"},
    ):
        assert not model.valid(bad)


def test_ready_without_slow_start(model: Model) -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        response = await client.get("/ready")
        assert response.status == 200
        assert (await response.json())["version"] == "2.0.0"

    serve(model, Faults(), check)


def test_the_server_process_refuses_bad_switches_with_a_clear_message(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "model_server"],
        env={"MODEL_FAULT_ERROR_RATE": "2", "PATH": "/usr/bin", "PYTHONPATH": ":".join(sys.path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "MODEL_FAULT_ERROR_RATE='2' must be between 0 and 1" in result.stderr


def test_the_image_trains_at_build_time_and_serves_without_scikit_learn() -> None:
    from dockerfile_parse import DockerfileParser

    from lab.artifact import SOURCE

    parser = DockerfileParser(path=str(SOURCE / "Dockerfile"))
    stages: list[list[dict[str, str]]] = []
    for instruction in parser.structure:
        if instruction["instruction"] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    train_stage, serve_stage = stages
    runs = [i["value"] for i in train_stage if i["instruction"] == "RUN"]
    assert any("model_server.train --out /model/model.json" in r for r in runs)
    serve = {i["instruction"]: i["value"] for i in serve_stage}
    assert "scikit-learn" not in " ".join(i["value"] for i in serve_stage)
    assert "--from=train /model/model.json" in " ".join(
        i["value"] for i in serve_stage if i["instruction"] == "COPY"
    )
    user = serve["USER"].split(":")[0]
    assert user.isdigit()
    assert int(user) != 0
    assert serve["ENTRYPOINT"] == '["python", "-m", "model_server"]'
    assert "MODEL_PATH=/model/model.json" in serve["ENV"]


def test_sigterm_lets_the_request_in_flight_finish(
    trained: tuple[dict[str, Any], Any], tmp_path: Path
) -> None:
    """The lab (and a kubelet) stop a server only after the gateway drained it; what is
    still in flight then must be answered, not cut. That includes a request whose body
    arrives after SIGTERM: HTTP clients (urllib3) send headers and body in separate
    writes, and on a busy machine the body can come after the handler started and
    after the server stopped listening. Here it does so on purpose."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    import requests

    from testenv.ports import free_port
    from testenv.procs import wait_until

    artifact = tmp_path / "model.json"
    artifact.write_text(json.dumps(trained[0]))
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin"),
        "PYTHONPATH": ":".join(sys.path),
        "MODEL_PATH": str(artifact),
        "PORT": str(port),
    }
    server = subprocess.Popen([sys.executable, "-m", "model_server"], env=env)
    url = f"http://127.0.0.1:{port}"

    def refuses_connections() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return True
        return False

    try:
        wait_until(
            lambda: requests.get(f"{url}/ready", timeout=1).ok, timeout=30, what="server ready"
        )
        body = json.dumps({"instances": [SETOSA]}).encode()
        head = (
            f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=20) as client:
            client.sendall(head)
            in_flight = (
                'model_requests_in_flight{model="iris",namespace="default",version="0.0.0"} 1.0'
            )
            wait_until(
                lambda: in_flight in requests.get(f"{url}/metrics", timeout=1).text,
                timeout=10,
                what="the request in flight",
            )
            server.send_signal(signal.SIGTERM)
            wait_until(refuses_connections, timeout=10, what="the server to stop listening")
            client.sendall(body)
            answer = client.makefile("rb").readline()
        assert answer.startswith(b"HTTP/1.1 200"), answer
        assert server.wait(timeout=15) == 0
    finally:
        server.kill()
        server.wait()

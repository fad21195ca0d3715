"""Reading one Prometheus instant-query answer into one number, and naming every other shape.

The HTTP API answers {"status": "success", "data": {"resultType": ..., "result": ...}}
or {"status": "error", "errorType": ..., "error": ...}. Anything but one finite number
(or NaN, which the shared rule calls Inconclusive, or no series at all: no data) is a
ProviderError whose message says what came back.
"""

from __future__ import annotations

import json
import math
from typing import Any

from modelrollout.metrics.provider import ProviderError


def read_answer(status_code: int, body: str) -> float | None:
    """The one number of an answer; None when the query matched nothing."""
    data = _data(status_code, body)
    return single_value(data.get("resultType"), data.get("result"))


def read_labelled(
    status_code: int, body: str, labels: tuple[str, ...]
) -> dict[tuple[str, ...], float]:
    """An instant vector's numbers keyed by the values of `labels` (NaN dropped: no data)."""
    data = _data(status_code, body)
    result = data.get("result")
    if data.get("resultType") != "vector" or not isinstance(result, list):
        raise ProviderError(f"expected a vector, got resultType {data.get('resultType')!r}")
    values: dict[tuple[str, ...], float] = {}
    for series in result:
        metric = series.get("metric") if isinstance(series, dict) else None
        if not isinstance(metric, dict) or "value" not in series:
            raise ProviderError(f"the series has no labels or value: {_excerpt(series)}")
        key = tuple(str(metric.get(label, "")) for label in labels)
        value = sample_value(series["value"], "the series")
        if not math.isnan(value):
            values[key] = value
    return values


def _data(status_code: int, body: str) -> dict[str, Any]:
    try:
        answer = json.loads(body)
    except ValueError:
        raise ProviderError(
            f"Prometheus answered HTTP {status_code} with a body that is not JSON: {_excerpt(body)}"
        ) from None
    if not isinstance(answer, dict):
        raise ProviderError(f"the response is a JSON {_kind(answer)}, not an object")
    if answer.get("status") == "error" or status_code != 200:
        error = answer.get("error") or "no error message"
        kind = answer.get("errorType") or "error"
        verb = "refused the query" if 400 <= status_code < 500 else "failed"
        raise ProviderError(f"Prometheus {verb} (HTTP {status_code}, {kind}): {_excerpt(error)}")
    if answer.get("status") != "success":
        raise ProviderError(f"the response's status is {answer.get('status')!r}, not 'success'")
    data = answer.get("data")
    if not isinstance(data, dict):
        raise ProviderError("the response had no data")
    return data


def single_value(result_type: Any, result: Any) -> float | None:
    if result_type == "scalar":
        return sample_value(result, "the scalar")
    if result_type == "vector":
        if not isinstance(result, list):
            raise ProviderError(f"the vector result is a JSON {_kind(result)}, not a list")
        if not result:
            return None
        if len(result) > 1:
            raise ProviderError(
                f"query returned {len(result)} series; it must return one number "
                "(aggregate it, e.g. with sum())"
            )
        series = result[0]
        if not isinstance(series, dict) or "value" not in series:
            raise ProviderError(f"the series has no value: {_excerpt(series)}")
        return sample_value(series["value"], "the series")
    if result_type == "matrix":
        raise ProviderError("query returned a range vector (matrix); it must return one number")
    if result_type == "string":
        raise ProviderError("query returned a string; it must return one number")
    raise ProviderError(f"the response had no known result type (resultType {result_type!r})")


def sample_value(sample: Any, what: str) -> float:
    """[timestamp, "value"] -> a number; NaN stays (no data to judge), ±Inf is an error."""
    if not isinstance(sample, list) or len(sample) != 2:
        raise ProviderError(f"{what} is not a [time, value] pair: {_excerpt(sample)}")
    raw = sample[1]
    if not isinstance(raw, str):
        raise ProviderError(f"{what}'s value is a JSON {_kind(raw)}, not a string number")
    try:
        value = float(raw)
    except ValueError:
        raise ProviderError(f"{what}'s value {_excerpt(raw)} is not a number") from None
    if math.isinf(value):
        raise ProviderError(f"value is {raw}: a ratio divided by zero? No finite number to judge")
    return value


def _kind(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _excerpt(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return repr(text if len(text) <= 120 else text[:120] + "...")

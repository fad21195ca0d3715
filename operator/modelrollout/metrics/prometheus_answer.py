"""Reading one Prometheus instant-query answer into one number, and naming every other shape.

The HTTP API answers {"status": "success", "data": {"resultType": ..., "result": ...}}
or {"status": "error", "errorType": ..., "error": ...}. Anything but one finite number
(or NaN, which the shared rule calls Inconclusive, or no series at all: no data) is a
ProviderError whose message says what came back: its HTTP status, content type, size
and shape, never its content. The URL is the tenant's to choose, so an answer may be
anything the operator can reach (cloud metadata, an internal service): echoed into
status, Events or logs it would be read by whoever can read those. Only a
Prometheus-shaped error's message is shown, bounded and stripped of control characters.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from modelrollout.metrics.provider import ProviderError

# Prometheus's own errorType values (web/api/v1); any other is named "unknown".
ERROR_TYPES = frozenset(
    ("timeout", "canceled", "execution", "bad_data", "internal", "unavailable", "not_found")
)
MAX_ERROR = 200  # characters of a Prometheus error message shown
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")


@dataclass(frozen=True)
class Answer:
    status_code: int
    content_type: str
    body: str


def read_answer(answer: Answer) -> float | None:
    """The one number of an answer; None when the query matched nothing."""
    data = _data(answer)
    return single_value(data.get("resultType"), data.get("result"))


def read_labelled(answer: Answer, labels: tuple[str, ...]) -> dict[tuple[str, ...], float]:
    """An instant vector's numbers keyed by the values of `labels` (NaN dropped: no data)."""
    data = _data(answer)
    result = data.get("result")
    if data.get("resultType") != "vector" or not isinstance(result, list):
        raise ProviderError(f"expected a vector, got resultType {data.get('resultType')!r}")
    values: dict[tuple[str, ...], float] = {}
    for series in result:
        metric = series.get("metric") if isinstance(series, dict) else None
        if not isinstance(metric, dict) or "value" not in series:
            raise ProviderError(f"a series is a JSON {_kind(series)} without labels or value")
        key = tuple(str(metric.get(label, "")) for label in labels)
        value = sample_value(series["value"], "the series")
        if not math.isnan(value):
            values[key] = value
    return values


def _data(answer: Answer) -> dict[str, Any]:
    status_code = answer.status_code
    try:
        parsed = json.loads(answer.body)
    except ValueError:
        raise ProviderError(
            f"Prometheus answered HTTP {status_code} with {_size(answer)} that is not JSON"
        ) from None
    if not isinstance(parsed, dict):
        raise ProviderError(f"the response is a JSON {_kind(parsed)}, not an object")
    if parsed.get("status") == "error" and isinstance(parsed.get("errorType"), str):
        verb = "refused the query" if 400 <= status_code < 500 else "failed"
        kind = parsed["errorType"] if parsed["errorType"] in ERROR_TYPES else "unknown errorType"
        error = parsed.get("error")
        said = _sanitised(error) if isinstance(error, str) else "no error message"
        raise ProviderError(f"Prometheus {verb} (HTTP {status_code}, {kind}): {said}")
    if status_code != 200:
        raise ProviderError(f"Prometheus answered HTTP {status_code} with {_size(answer)}")
    if parsed.get("status") != "success":
        raise ProviderError("the response's status is not 'success'")
    data = parsed.get("data")
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
            raise ProviderError(f"the series is a JSON {_kind(series)} without a value")
        return sample_value(series["value"], "the series")
    if result_type == "matrix":
        raise ProviderError("query returned a range vector (matrix); it must return one number")
    if result_type == "string":
        raise ProviderError("query returned a string; it must return one number")
    raise ProviderError("the response had no known result type")


def sample_value(sample: Any, what: str) -> float:
    """[timestamp, "value"] -> a number; NaN stays (no data to judge), ±Inf is an error."""
    if not isinstance(sample, list) or len(sample) != 2:
        raise ProviderError(f"{what} is a JSON {_kind(sample)}, not a [time, value] pair")
    raw = sample[1]
    if not isinstance(raw, str):
        raise ProviderError(f"{what}'s value is a JSON {_kind(raw)}, not a string number")
    try:
        value = float(raw)
    except ValueError:
        raise ProviderError(f"{what}'s value is a string that is not a number") from None
    if math.isinf(value):
        infinity = "+Inf" if value > 0 else "-Inf"
        raise ProviderError(
            f"value is {infinity}: a ratio divided by zero? No finite number to judge"
        )
    return value


def _kind(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _size(answer: Answer) -> str:
    kind = answer.content_type.split(";", 1)[0].strip()
    shown = kind if _MEDIA_TYPE.fullmatch(kind) else "an unnamed content type"
    return f"{len(answer.body.encode())} bytes of {shown}"


def _sanitised(text: str) -> str:
    """A Prometheus error message as shown: printable, one line, bounded."""
    printable = "".join(c if c.isprintable() else " " for c in text)
    return repr(printable if len(printable) <= MAX_ERROR else printable[:MAX_ERROR] + "...")

"""The status is written as a JSON merge patch: applied to what the API server holds,
it must give exactly the decided status, fields dropped at any depth included."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from modelrollout.handlers.status_write import merge_patch


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386, section 2, as the API server applies it."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


leaves = st.one_of(st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=3))
objects = st.recursive(
    st.dictionaries(st.sampled_from("abcd"), leaves, max_size=4),
    lambda inner: st.dictionaries(st.sampled_from("abcd"), st.one_of(leaves, inner), max_size=4),
    max_leaves=12,
)


@given(objects, objects)
def test_the_patch_turns_the_old_status_into_the_new_one(
    old: dict[str, Any], new: dict[str, Any]
) -> None:
    assert apply_merge_patch(old, merge_patch(old, new)) == new


def test_a_field_dropped_inside_an_object_is_removed_and_nothing_unchanged_is_sent() -> None:
    old = {"phase": "RolledBack", "analysis": {"failed": 1, "judge": {"since": "t"}}}
    new = {"phase": "Progressing", "analysis": {"failed": 1}}
    assert merge_patch(old, new) == {"phase": "Progressing", "analysis": {"judge": None}}
    assert merge_patch(new, new) == {}

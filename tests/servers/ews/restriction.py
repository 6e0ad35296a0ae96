"""Evaluating FindItem restrictions (IsEqualTo, Contains, And/Or/Not...) against items."""

from __future__ import annotations

from collections.abc import Callable

from .calendar import Occurrence
from .shapes import properties
from .soap import Element, EwsError, local, t
from .store import Item, ext_key, parse_datetime

_COMPARE: dict[str, Callable[[int], bool]] = {
    "IsEqualTo": lambda c: c == 0,
    "IsNotEqualTo": lambda c: c != 0,
    "IsGreaterThan": lambda c: c > 0,
    "IsGreaterThanOrEqualTo": lambda c: c >= 0,
    "IsLessThan": lambda c: c < 0,
    "IsLessThanOrEqualTo": lambda c: c <= 0,
}


def _value(field: Element, item: Item | Occurrence) -> list[str] | None:
    """The text value(s) of the property a FieldURI/ExtendedFieldURI names, or None."""
    props, extended = properties(item)
    if local(field.tag) == "ExtendedFieldURI":
        node = extended.get(ext_key(field))
        if node is None:
            return None
        values = node.find(t("Values"))
        if values is not None:
            return [v.text or "" for v in values]
        return [node.findtext(t("Value")) or ""]
    if local(field.tag) == "FieldURI":
        name = (field.get("FieldURI") or "").rpartition(":")[2]
        node = props.get(name)
        if node is None:
            return None
        if len(node):
            return [child.text or "" for child in node]
        if name == "ItemId":
            return [node.get("Id") or ""]
        return [node.text or ""]
    raise EwsError("ErrorUnsupportedPathForQuery", f"Unsupported path {local(field.tag)}.")


def _compare(left: str, right: str) -> int:
    """Compare as integers, else as instants, else as text."""
    try:
        a, b = int(left), int(right)
        return (a > b) - (a < b)
    except ValueError:
        pass
    try:
        x, y = parse_datetime(left), parse_datetime(right)
        return (x > y) - (x < y)
    except ValueError:
        return (left > right) - (left < right)


def matches(node: Element, item: Item | Occurrence) -> bool:
    """Whether ``item`` satisfies the restriction element ``node``."""
    kind = local(node.tag)
    if kind == "And":
        return all(matches(child, item) for child in node)
    if kind == "Or":
        return any(matches(child, item) for child in node)
    if kind == "Not":
        return not matches(node[0], item)
    if kind == "Exists":
        return _value(node[0], item) is not None
    if kind in _COMPARE:
        values = _value(node[0], item)
        constant = node.find(f"{t('FieldURIOrConstant')}/{t('Constant')}")
        if values is None or constant is None:
            return False
        target = constant.get("Value") or ""
        return any(_COMPARE[kind](_compare(v, target)) for v in values)
    if kind == "Contains":
        values = _value(node[0], item)
        constant = node.find(t("Constant"))
        if values is None or constant is None:
            return False
        target = constant.get("Value") or ""
        ignore_case = "Ignore" in (node.get("ContainmentComparison") or "")
        mode = node.get("ContainmentMode") or "Substring"
        for value in values:
            a, b = (value.lower(), target.lower()) if ignore_case else (value, target)
            if (
                (mode == "FullString" and a == b)
                or (mode == "Prefixed" and a.startswith(b))
                or (mode not in ("FullString", "Prefixed") and b in a)
            ):
                return True
        return False
    raise EwsError("ErrorUnsupportedQueryFilter", f"Unsupported restriction {kind}.")


def sort_value(field: Element, item: Item | Occurrence) -> tuple[int, int, str]:
    """A key that orders by the property ``field`` names (missing values first)."""
    values = _value(field, item)
    if not values:
        return (0, 0, "")
    text = values[0]
    try:
        return (1, int(text), "")
    except ValueError:
        pass
    try:
        return (1, int(parse_datetime(text).timestamp()), "")
    except ValueError:
        return (2, 0, text)

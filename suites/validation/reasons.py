"""Plain sentences for the records: the deciding figure against its threshold, no Python reprs.

:func:`sentence` words one :class:`~.deciding.Deciding` ("The largest share of missing values
is 100% in notes; it must be at most 5%. 1 column is past it: notes (100%)."); :func:`plain`
turns the dicts and lists deepchecks writes into its condition details (``{0: {'F1':
'-2.88%'}}``) into words (``0: F1 -2.88%``), for the conditions this suite has no reader for.
"""

from __future__ import annotations

import ast
from typing import Any

from certify.suites.validation.deciding import Deciding

_RELATION = {("max", False): "at most", ("max", True): "below", ("min", False): "at least",
             ("min", True): "above"}


def figure(value: float | None, percent: bool) -> str:
    """A deciding value or threshold as people read it (``12.6%``, ``0.8826``, ``3``)."""
    if value is None:
        return "not computed"
    if percent:
        return f"{value * 100:.3g}%"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}"


def _plural(n: int, noun: str) -> str:
    if n == 1:
        return f"1 {noun}"
    return f"{n} {noun}es" if noun.endswith("s") else f"{n} {noun}s"


def relation(d: Deciding, warns: bool = False) -> str:
    """``must be at most 5%`` for ``d``; ``should be at most 5% (...)`` where the threshold is
    only a warning level (the check never fails on it)."""
    limit = f"{_RELATION[(d.direction, d.strict)]} {figure(d.threshold, d.percent)}"
    return f"should be {limit} (a warning level: past it the check warns, never fails)" \
        if warns else f"must be {limit}"


def sentence(d: Deciding, warns: bool = False) -> str:
    """The deciding figure, its threshold (``warns``: a warning level only), and the items
    past it, as one or two sentences."""
    text = f"{d.label} is {figure(d.value, d.percent)}"
    if d.where:
        text += f" {d.where}"
    if d.note:
        text += f" ({d.note})"
    text = text[0].upper() + text[1:] + f"; it {relation(d, warns)}."
    if not d.over or (d.n_over == 1 and d.where == f"{d.where.split(' ')[0]} {d.over[0][0]}"):
        return text
    items = ", ".join(f"{name} ({value})" if value else name for name, value in d.over[:5])
    more = f" and {d.n_over - 5} more" if d.n_over > 5 else ""
    if d.counted:
        noun = d.noun if d.n_over == 1 else _plural(2, d.noun)[2:]
        return text + f" The {noun}: {items}{more}."
    verb = "is" if d.n_over == 1 else "are"
    return text + f" {_plural(d.n_over, d.noun)} {verb} past it: {items}{more}."


def _words(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{_words(k)}: {_words(v)}" if not isinstance(v, dict)
                         else f"{_words(k)} ({_words(v)})" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(_words(v) for v in value)
    return str(value)


def plain(text: str) -> str:
    """``text`` on one line with every Python dict, list or tuple literal in it put in words."""
    text = " ".join(str(text).split())
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch in "{[(":
            end = _closing(text, i)
            if end is not None:
                try:
                    out.append(_words(ast.literal_eval(text[i:end + 1])))
                    i = end + 1
                    continue
                except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                    pass
        out.append(ch)
        i += 1
    return "".join(out)


def _closing(text: str, start: int) -> int | None:
    """The index of the bracket closing the one at ``start`` (quotes respected), or None."""
    pairs = {"{": "}", "[": "]", "(": ")"}
    stack, quote = [], ""
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch in pairs:
            stack.append(pairs[ch])
        elif stack and ch == stack[-1]:
            stack.pop()
            if not stack:
                return i
        elif ch in ")]}":
            return None
    return None

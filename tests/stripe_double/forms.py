"""Stripe's form encoding (`items[0][price]=p`, `expand[0]=product`, `metadata[k]=v`) decoded
into nested dicts and lists, as stripe-python sends it on every method."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

_TOKEN = re.compile(r"\[([^\]]*)\]")


def decode(raw: str) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        head = key.split("[", 1)[0]
        path = [head, *_TOKEN.findall(key[len(head) :])]
        node: Any = root
        for part, following in zip(path, path[1:], strict=False):
            child = {} if following and not following.isdigit() else []
            node = _slot(node, part, child)
        _assign(node, path[-1], value)
    return root


def _slot(node: Any, part: str, child: Any) -> Any:
    if isinstance(node, list):
        index = int(part) if part else len(node)
        while len(node) <= index:
            node.append(type(child)())
        return node[index]
    return node.setdefault(part, child)


def _assign(node: Any, part: str, value: str) -> None:
    if isinstance(node, list):
        node.append(value)
    else:
        node[part] = value


def flag(value: Any) -> bool:
    return str(value).lower() == "true"

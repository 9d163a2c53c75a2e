"""The rows of ``faceoff list-plugins``: components and broken plugins, JSON-ready."""

from __future__ import annotations

from typing import Any

from faceoff.components import Component
from faceoff.plugins import Registry, one_line


def plugin_rows(registry: Registry) -> list[dict[str, Any]]:
    """One object per component (``status`` ok, or broken for a name registered twice or a
    params model that cannot give its JSON Schema) and one per plugin that failed to load
    (``kind`` and ``name`` null). The broken rows come after the others."""
    rows: list[dict[str, Any]] = []
    broken: list[dict[str, Any]] = []
    for c in registry.all():
        row = _row(c, None)
        (rows if row["status"] == "ok" else broken).append(row)
    for (kind, name), comps in sorted(registry.conflicts.items()):
        error = f"{kind} {name!r} is registered by " + " and ".join(
            f"{c.plugin.distribution} {c.plugin.version}" for c in comps
        )
        broken += [_row(c, error) for c in comps]
    rows += broken
    for plugin in registry.broken:
        rows.append(
            {
                "kind": None,
                "name": None,
                "role": None,
                "entry_point": plugin.plugin.entry_point,
                "distribution": plugin.plugin.distribution,
                "version": plugin.plugin.version,
                "summary": "",
                "status": "broken",
                "error": plugin.error,
                "params": None,
            }
        )
    return rows


def params_schema(c: Component) -> tuple[dict[str, Any] | None, str | None]:
    """The params model's JSON Schema, or None and why there is none (a plugin's bug: a field
    type pydantic cannot describe, a schema hook that raises). ``list-plugins`` lists such a
    component as broken with that reason; ``faceoff schema`` leaves it out with a warning that
    gives the same reason."""
    try:
        return c.params.model_json_schema(), None
    except Exception as exc:
        reason = one_line(exc).split(" For further information visit ")[0]  # pydantic's link
        return None, f"params model {c.params.__name__} has no JSON Schema: {reason}"


def _row(c: Component, error: str | None) -> dict[str, Any]:
    schema, problem = params_schema(c)
    error = "; ".join(e for e in (error, problem) if e) or None
    return {
        "kind": c.kind,
        "name": c.name,
        "role": c.role,
        "entry_point": c.plugin.entry_point,
        "distribution": c.plugin.distribution,
        "version": c.plugin.version,
        "summary": c.summary,
        "status": "ok" if error is None else "broken",
        "error": error,
        "params": schema,
    }

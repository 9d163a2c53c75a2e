"""The rows of ``faceoff list-plugins``: components and broken plugins, JSON-ready."""

from __future__ import annotations

from typing import Any

from faceoff.plugins import Registry


def plugin_rows(registry: Registry) -> list[dict[str, Any]]:
    """One object per component (``status`` ok, or broken for a name registered twice) and one
    per plugin that failed to load (``kind`` and ``name`` null)."""
    rows: list[dict[str, Any]] = []
    for c in registry.all():
        rows.append(_row(c, "ok", None))
    for (kind, name), comps in sorted(registry.conflicts.items()):
        error = f"{kind} {name!r} is registered by " + " and ".join(
            f"{c.plugin.distribution} {c.plugin.version}" for c in comps
        )
        rows += [_row(c, "broken", error) for c in comps]
    for broken in registry.broken:
        rows.append(
            {
                "kind": None,
                "name": None,
                "role": None,
                "entry_point": broken.plugin.entry_point,
                "distribution": broken.plugin.distribution,
                "version": broken.plugin.version,
                "summary": "",
                "status": "broken",
                "error": broken.error,
                "params": None,
            }
        )
    return rows


def _row(c: Any, status: str, error: str | None) -> dict[str, Any]:
    return {
        "kind": c.kind,
        "name": c.name,
        "role": c.role,
        "entry_point": c.plugin.entry_point,
        "distribution": c.plugin.distribution,
        "version": c.plugin.version,
        "summary": c.summary,
        "status": status,
        "error": error,
        "params": c.params.model_json_schema(),
    }

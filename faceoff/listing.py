"""The rows of ``faceoff list-plugins``: components and broken plugins, JSON-ready."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from faceoff.components import Component
from faceoff.console import printable
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


def plugin_table(rows: list[dict[str, Any]], width: int) -> Table:
    """One line per component, fitted to ``width`` columns: the summary is cut short (with an
    ellipsis) rather than wrapped, and below 110 columns the distribution and version (in
    ``--json``) make room for it. Every cell is text (a plugin's ``[red]`` is not markup) and
    the console escapes control characters in it."""
    wide = width >= 110
    table = Table(title="faceoff plugins", expand=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("name", no_wrap=True)
    if wide:
        table.add_column("distribution", no_wrap=True)
        table.add_column("version", no_wrap=True)
    table.add_column("summary", no_wrap=True, overflow="ellipsis", ratio=1)
    table.add_column("status", no_wrap=True)
    for row in rows:
        ok = row["status"] == "ok"
        name = row["name"] or f"({row['entry_point']})"
        about = row["summary"] if ok else Text(printable(row["error"]), style="red")
        origin = [row["distribution"], row["version"]] if wide else []
        status = Text("ok", style="green") if ok else Text("broken", style="red")
        table.add_row(row["kind"] or "?", name, *origin, about, status)
    return table

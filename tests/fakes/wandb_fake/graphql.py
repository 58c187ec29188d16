"""GraphQL for the fake, dispatched on the query text.

wandb 0.31 sends `operationName: ""`, so the operation is read from the document itself:
the name after the first `query`/`mutation` keyword. Each known operation has a resolver
that returns the `data` object shaped the way the client reads it. Unknown operations get
an error, so a new client query shows up in the request log instead of passing silently.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

from .store import VIEWER, Run, Store, new_run_id

_OP = re.compile(r"\b(query|mutation)\s+([A-Za-z_]\w*)")
_FIRST_FIELD = re.compile(r"\{\s*([A-Za-z_]\w*)")

Resolver = Callable[[Store, dict[str, Any], str], dict[str, Any]]


def operation_name(query: str) -> str:
    """The operation's name from the document, or its first field when it has no name."""
    m = _OP.search(query)
    if m:
        return m.group(2)
    f = _FIRST_FIELD.search(query)
    return f"anonymous:{f.group(1)}" if f else "anonymous"


class GraphQLError(Exception):
    pass


def execute(store: Store, body: dict[str, Any], base_url: str) -> dict[str, Any]:
    """Run one GraphQL request; returns the full response object (data or errors)."""
    query = body.get("query") or ""
    variables = body.get("variables") or {}
    if isinstance(variables, str):
        variables = json.loads(variables or "{}")
    op = operation_name(query)
    resolver = RESOLVERS.get(op)
    if resolver is None:
        return {"errors": [{"message": f"fake W&B: unsupported operation {op!r}"}], "data": None}
    try:
        return {"data": resolver(store, variables, base_url)}
    except GraphQLError as e:
        return {"errors": [{"message": str(e)}], "data": None}


def _viewer(store: Store, v: dict[str, Any], base: str) -> dict[str, Any]:
    return {
        "viewer": {
            "id": "VXNlcjox",
            "entity": VIEWER["entity"],
            "username": VIEWER["username"],
            "email": VIEWER["email"],
            "name": VIEWER["username"],
            "admin": False,
            "flags": "{}",
            "teams": {"edges": []},
            "defaultEntity": {"name": VIEWER["entity"]},
        }
    }


def _server_info(store: Store, v: dict[str, Any], base: str) -> dict[str, Any]:
    return {
        "serverInfo": {
            "cliVersionInfo": {},
            "latestLocalVersionInfo": None,
            "features": [],
        }
    }


def _project_or_none(store: Store, v: dict[str, Any]) -> tuple[str, str] | None:
    entity, project = (
        v.get("entity") or v.get("entityName"),
        v.get("project") or v.get("projectName"),
    )
    if not entity or not project or not store.has_project(entity, project):
        return None
    return entity, project


def _runs(store: Store, v: dict[str, Any], base: str) -> dict[str, Any]:
    where = _project_or_none(store, v)
    if where is None:
        return {"project": None}
    filters = v.get("filters") or "{}"
    filters = json.loads(filters) if isinstance(filters, str) else filters
    found = store.query(*where, filters, v.get("order") or "+created_at")
    start = int(v.get("cursor") or 0)
    per_page = int(v.get("perPage") or 50)
    with store.lock:
        page = found[start : start + per_page]
        edges = [{"node": r.node(), "cursor": str(start + i + 1)} for i, r in enumerate(page)]
    return {
        "project": {
            "internalId": "1",
            "runCount": len(found),
            "readOnly": False,
            "runs": {
                "edges": edges,
                "pageInfo": {
                    "endCursor": edges[-1]["cursor"] if edges else None,
                    "hasNextPage": start + per_page < len(found),
                },
            },
        }
    }


def _one_run(store: Store, v: dict[str, Any]) -> Run | None:
    where = _project_or_none(store, v)
    name = v.get("name") or v.get("run") or v.get("runName") or v.get("runId")
    return store.get(*where, name) if where and name else None


def _run_field(fn: Callable[[Run, dict[str, Any]], dict[str, Any]]) -> Resolver:
    """A resolver for `project { run(name:) { ... } }` that returns null for a missing run."""

    def resolve(store: Store, v: dict[str, Any], base: str) -> dict[str, Any]:
        where = _project_or_none(store, v)
        if where is None:
            return {"project": None}
        run = _one_run(store, v)
        with store.lock:
            return {"project": {"run": fn(run, v) if run else None}}

    return resolve


def _node(run: Run, v: dict[str, Any]) -> dict[str, Any]:
    return run.node()


def _history_keys(run: Run, v: dict[str, Any]) -> dict[str, Any]:
    return {"historyKeys": run.history.history_keys()}


def _sampled(run: Run, v: dict[str, Any]) -> dict[str, Any]:
    from .history import sample

    specs = v.get("specs") or ([v["spec"]] if "spec" in v else [])
    out = []
    for raw in specs:
        spec = json.loads(raw) if isinstance(raw, str) else raw
        keys = list(dict.fromkeys(spec.get("keys") or []))
        lo = int(spec.get("minStep", 0))
        hi = spec.get("maxStep")
        hi = None if hi is None else int(hi) + 1  # maxStep is inclusive in sampledHistory
        steps = sample(run.history.steps_with(keys, lo, hi), int(spec.get("samples", 500)))
        rows = [run.history.row(s) for s in steps]
        out.append([{k: r[k] for k in keys if k in r} for r in rows])
    return {"sampledHistory": out}


def _full_history(run: Run, v: dict[str, Any]) -> dict[str, Any]:
    from .history import sample

    samples = int(v.get("samples") or v.get("pageSize") or 500)
    if "minStep" in v:
        rows = run.history.rows_between(int(v["minStep"]), int(v["maxStep"]), samples)
    else:
        rows = [run.history.row(s) for s in sample(run.history.steps_with(()), samples)]
    return {"history": [json.dumps(r) for r in rows]}


def _parquet(run: Run, v: dict[str, Any]) -> dict[str, Any]:
    return {"parquetHistory": {"parquetUrls": [], "liveData": []}}


def _stopped(run: Run, v: dict[str, Any]) -> dict[str, Any]:
    return {"stopped": run.stopped}


def _run_info(run: Run, v: dict[str, Any]) -> dict[str, Any]:
    return {"displayName": run.display_name, "summaryMetrics": json.dumps(run.full_summary())}


def _upsert_bucket(store: Store, v: dict[str, Any], base: str) -> dict[str, Any]:
    entity = v.get("entity") or VIEWER["entity"]
    project = v.get("project") or "uncategorized"
    run_id = v.get("name") or new_run_id()
    with store.lock:
        run = store.get(entity, project, run_id)
        inserted = run is None
        if run is None:
            run = store.add(Run(entity=entity, project=project, id=run_id, display_name=run_id))
        _apply_upsert(run, v)
        return {
            "upsertBucket": {
                "bucket": {
                    "id": run.storage_id,
                    "name": run.id,
                    "displayName": run.display_name,
                    "description": run.notes,
                    "config": run.config_json(),
                    "sweepName": None,
                    "project": {
                        "id": "UHJvamVjdDox",
                        "name": project,
                        "entity": {"id": "RW50aXR5OjE=", "name": entity},
                    },
                    "historyLineCount": len(run.history),
                },
                "inserted": inserted,
            }
        }


def _apply_upsert(run: Run, v: dict[str, Any]) -> None:
    run.heartbeat_at = time.time()
    if v.get("displayName"):
        run.display_name = v["displayName"]
    if v.get("config"):
        cfg = json.loads(v["config"]) if isinstance(v["config"], str) else v["config"]
        run.config.update(cfg)
    if v.get("summaryMetrics"):
        sm = v["summaryMetrics"]
        run.summary.update(json.loads(sm) if isinstance(sm, str) else sm)
    for src, dst in (("groupName", "group"), ("jobType", "job_type"), ("notes", "notes")):
        if v.get(src) is not None:
            setattr(run, dst, v[src])
    if v.get("tags") is not None:
        run.tags = list(v["tags"])
    if v.get("state"):
        run.state = v["state"]


def _resume_status(store: Store, v: dict[str, Any], base: str) -> dict[str, Any]:
    entity = v.get("entity") or VIEWER["entity"]
    project = v.get("project") or "uncategorized"
    run = store.get(entity, project, v.get("name") or "")
    bucket = None
    if run is not None:
        with store.lock:
            tail = [json.dumps(run.history.row(run.history.last_step))] if len(run.history) else []
            bucket = {
                "id": run.storage_id,
                "name": run.id,
                "summaryMetrics": json.dumps(run.full_summary()),
                "displayName": run.display_name,
                "logLineCount": run.console_lines,
                "historyLineCount": len(run.history),
                "eventsLineCount": 0,
                "historyTail": json.dumps(tail),
                "eventsTail": "[]",
                "config": run.config_json(),
                "tags": run.tags,
                "notes": run.notes,
                "wandbConfig": json.dumps(
                    {"t": run.config.get("_wandb", {}).get("value", {}).get("t")}
                ),
            }
    return {
        "model": {
            "id": "UHJvamVjdDox",
            "name": project,
            "entity": {"id": "RW50aXR5OjE=", "name": entity},
            "bucket": bucket,
        }
    }


def _create_run_files(store: Store, v: dict[str, Any], base: str) -> dict[str, Any]:
    entity, project, run_id = v.get("entity"), v.get("project"), v.get("run")
    files = list(v.get("files") or [])
    run = store.get(entity or "", project or "", run_id or "")
    with store.lock:
        if run is not None:
            run.files.extend(f for f in files if f not in run.files)
    return {
        "createRunFiles": {
            "runID": run.storage_id if run else "UnVuOjA=",
            "uploadHeaders": [],
            "files": [
                {"name": f, "uploadUrl": f"{base}/_upload/{entity}/{project}/{run_id}/{f}"}
                for f in files
            ],
        }
    }


def _stop_run(store: Store, v: dict[str, Any], base: str) -> dict[str, Any]:
    return {"stopRun": {"success": True}}


def _ok(field: str) -> Resolver:
    def resolve(store: Store, v: dict[str, Any], base: str) -> dict[str, Any]:
        return {field: {"success": True}}

    return resolve


RESOLVERS: dict[str, Resolver] = {
    "Viewer": _viewer,
    "GetViewer": _viewer,
    "GetDefaultEntity": _viewer,
    "DefaultEntity": _viewer,
    "ServerInfo": _server_info,
    "ServerFeaturesQuery": _server_info,
    "Runs": _runs,
    "Run": _run_field(_node),
    "RunHistoryKeys": _run_field(_history_keys),
    "RunSampledHistory": _run_field(_sampled),
    "SampledHistoryPage": _run_field(_sampled),
    "RunFullHistory": _run_field(_full_history),
    "HistoryPage": _run_field(_full_history),
    "RunParquetHistory": _run_field(_parquet),
    "RunStoppedStatus": _run_field(_stopped),
    "QueryRunInfo": _run_field(_run_info),
    "UpsertBucket": _upsert_bucket,
    "RunResumeStatus": _resume_status,
    "CreateRunFiles": _create_run_files,
    "StopRun": _stop_run,
}

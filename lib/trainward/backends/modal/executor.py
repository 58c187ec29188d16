"""The sweep controller's executor inside a sweep's Modal app (see trainward.sweep.controller)."""

from __future__ import annotations

from typing import Any

from trainward.backends.modal.support import call_outcome, live_call
from trainward.errors import TrainwardError


class ModalExecutor:
    """The sweep controller's executor inside the sweep's Modal app: members and validation
    jobs are spawned from that one app (`run_spec` and `validate` handles of scripts/modal_train.py)."""

    def __init__(self, run_spec: Any, validate: Any) -> None:
        self.run_spec = run_spec
        self.validate = validate

    def launch(self, run: str, member: dict[str, Any], timeout_s: int | None) -> dict[str, Any]:
        spec = {**member["worker_spec"], "max_seconds": timeout_s}
        return {"function_call_id": self.run_spec.spawn(spec).object_id}

    def state(self, run: str, ids: dict[str, Any]) -> str:
        _, outcome = live_call(ids["function_call_id"])
        return str(outcome["state"])

    def submit(self, job: dict[str, Any]) -> Any:
        return self.validate.spawn(job)

    def poll(self, call: Any) -> dict[str, Any] | None:
        outcome = call_outcome(call.object_id)
        if outcome["state"] == "running":
            return None
        if outcome["state"] != "finished":
            raise TrainwardError(f"validation job failed: {outcome.get('reason')}")
        return {k: v for k, v in outcome.items() if k != "state"}

"""The sweep controller's executor inside a sweep's Modal app (see trainward.sweep.controller)."""

from __future__ import annotations

from typing import Any

from trainward.backends.modal.support import call_outcome, live_call
from trainward.core.sweep_contracts import MemberPlan, ValidationJob
from trainward.errors import TrainwardError, ValidationFailed

VALIDATION_START_GRACE_S = 120.0  # a container may take this long to start


class ModalExecutor:
    """The sweep controller's executor inside the sweep's Modal app: members and validation
    jobs are spawned from that one app (`run_spec`, the per-size member functions and
    `validate` of scripts/modal_train.py), one container each."""

    grace_s = VALIDATION_START_GRACE_S

    def __init__(self, run_spec: Any, validate: Any, members: dict[str, Any] | None = None) -> None:
        self.run_spec = run_spec
        self.validate = validate
        self.members = members or {}

    def launch(self, run: str, member: MemberPlan, timeout_s: int | None) -> dict[str, Any]:
        if member.worker_spec is None:
            raise TrainwardError(f"member {run} has no worker spec in the sweep's plan")
        spec = member.worker_spec.replace(max_seconds=timeout_s)
        function = self.members.get(member.resources_key or "", self.run_spec)
        return {"function_call_id": function.spawn(spec.to_json()).object_id}

    def state(self, run: str, ids: dict[str, Any]) -> str:
        _, outcome = live_call(ids["function_call_id"])
        return str(outcome["state"])

    def submit(self, job: ValidationJob) -> Any:
        return self.validate.spawn(job.to_json())

    def poll(self, call: Any) -> dict[str, Any] | None:
        outcome = call_outcome(call.object_id)
        if outcome["state"] == "running":
            return None
        if outcome["state"] != "finished":
            raise ValidationFailed(f"validation job failed: {outcome.get('reason')}")
        return {k: v for k, v in outcome.items() if k != "state"}

    def cancel(self, call: Any) -> None:
        call.cancel()

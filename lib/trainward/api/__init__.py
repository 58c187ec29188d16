"""The Python API: the library calls the CLI makes, for notebooks and scripts.

    import trainward as tw

    run = tw.launch("experiments/smoke-cpu.yaml", epochs=3)   # detached; returns at once
    run.status().verdict                                       # "running"
    run.wait(timeout=600)                                      # RunStatus; raises RunFailed
    run.pull("best", to="checkpoints")                         # verified by size and sha256
    tw.runs()                                                  # [Run, ...], newest last
    tw.status("smoke-cpu-20260101-120000")                     # RunStatus of one run
    tw.plan("experiments/smoke-cpu.yaml", epochs=3)            # the dry run: a LaunchPlan
    tw.sweep("experiments/sweep-smoke.yaml")                   # a started sweep

`documents` holds the JSON documents that `trainward ... --json` prints and the MCP server's
tools return: one function per document, called by both, so the two cannot differ.
Errors are the library's (`trainward.errors`): each has an `exit_code` and a `hint`.
"""

from trainward.api.runs import Run, Sweep, launch, plan, runs, status, status_all, sweep

__all__ = ["Run", "Sweep", "launch", "plan", "runs", "status", "status_all", "sweep"]

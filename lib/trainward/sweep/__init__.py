"""Sweeps: many configurations, trained in parallel, validated, merged and deployed.

spec.py        the sweep file: members (args, resources, deploy), grid, validation, budget
launch.py      plan, budget check, data sync, and the start through the backend's seam
store.py       $TRAINWARD_HOME/sweeps.jsonl: sweep names claimed under a lock
controller.py  the controller (re-entrant from sweeps/<name>/state.json on the volume)
local.py       the local controller's process and executor (one process per validation job)
validate.py    validation jobs: slices of your program, held-out evaluation, matches
results.py     the merge: leaderboard, member x member matrix, costs; the summary
deploy.py      bringing a sweep home: the results folder, members' files, the winner
status.py      `trainward status SWEEP`
plot.py        `trainward status SWEEP --plot FILE.png`
"""

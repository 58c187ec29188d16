"""Sweeps: many configurations, trained in parallel, validated, merged and deployed.

spec.py        the sweep file: members, grid, validation, budget, deploy
launch.py      plan, budget check, data sync, and the detached controller's start
controller.py  the controller (re-entrant from sweeps/<name>/state.json on the volume)
local.py       the local executor (process pool) and deploying weights
validate.py    validation jobs and the merge of their results
"""

"""Runs: launching, recording, reading and stopping one training run.

registry.py   the local record of launches ($TRAINWARD_HOME/runs.jsonl)
ledger.py     the run ledger on the volume: writer (training code) and reader (status)
context.py    RunContext, what an entrypoint receives
worker.py     what runs inside a local process or a container, on every backend
launch.py     plan (dry run) and launch (detached)
status.py     read-only join of compute, ledger and W&B; verdict.py decides the verdict
waiting.py    `wait`: poll status until a run ends
stopping.py   `stop`: the only destructive run action
pull.py       verified downloads of checkpoints and folders
pricing.py    prices and cost estimates
deploy.py     the deployed Modal app's record
doctor.py     setup checks
plot.py       curves of a run, drawn from its ledger

Nothing is imported here: each command imports the modules it uses.
"""

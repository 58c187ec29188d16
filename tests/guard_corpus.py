"""Commands and what the guard must say about them: (command, decision, category).

Dangerous entries are the ones whose expected category is forbidden or destructive;
read-only entries must never be denied. tests/test_guard.py checks every row and both
of those invariants. `modal run` flags were checked against `modal run --help` (modal
1.6.4): options count only before the function reference.
"""

from __future__ import annotations

ALLOW, ASK, DENY = "allow", "ask", "deny"
RO, LAUNCH, DESTR, FORBID, OTHER = "read-only", "launch", "destructive", "forbidden", "other"

# -- modal run: attached, detached, and where --detach really goes ------------------------
MODAL_RUN = [
    ("modal run train.py", DENY, FORBID),
    ("modal run scripts/modal_train.py::train --epochs 3", DENY, FORBID),
    ("modal run --detach train.py", ALLOW, LAUNCH),
    ("modal run -d train.py", ALLOW, LAUNCH),
    ("modal run -d x.py", ALLOW, LAUNCH),
    ("modal run train.py --detach", DENY, FORBID),  # --detach goes to the function
    ("modal run x.py::train --detach", DENY, FORBID),
    ("modal run x.py::train -d", DENY, FORBID),
    ("modal run train.py --detach-later", DENY, FORBID),
    ("modal run -dq train.py", ALLOW, LAUNCH),
    ("modal run -qd train.py", ALLOW, LAUNCH),
    ("modal run -dn nightly train.py", ALLOW, LAUNCH),
    ("modal run -n -d train.py", DENY, FORBID),  # "-d" is the run's name here
    ("modal run --name nightly --detach train.py", ALLOW, LAUNCH),
    ("modal run --name=nightly -d train.py", ALLOW, LAUNCH),
    ("modal run -e dev -d train.py", ALLOW, LAUNCH),
    ("modal run --env dev train.py", DENY, FORBID),
    ("modal run -m pkg.train", DENY, FORBID),
    ("modal run -dm pkg.train", ALLOW, LAUNCH),
    ("modal run --timestamps -q --detach train.py", ALLOW, LAUNCH),
    ("modal --profile work run -d train.py", ALLOW, LAUNCH),
    ("modal run --profile work train.py", DENY, FORBID),
    ("modal run -- train.py --detach", DENY, FORBID),
    ("modal run 'train.py --detach'", DENY, FORBID),
    ('modal run "--detach" train.py', ALLOW, LAUNCH),
    ("modal run $'--detach' train.py", ALLOW, LAUNCH),
    ("modal run --help", ALLOW, RO),
    ("modal run train.py --help", ALLOW, RO),
    ("modal run", ALLOW, OTHER),
    ("modal run -i train.py", DENY, FORBID),
]

# -- the smoke-test rule: attached only when `timeout N` bounds it (N <= 600 s) ----------
SMOKE = [
    ("timeout 300 modal run train.py", ALLOW, LAUNCH),
    ("timeout 600 modal run train.py::smoke", ALLOW, LAUNCH),
    ("timeout 601 modal run train.py", DENY, FORBID),
    ("timeout 5m modal run train.py", ALLOW, LAUNCH),
    ("timeout 10m modal run train.py", ALLOW, LAUNCH),
    ("timeout 0.5h modal run train.py", DENY, FORBID),
    ("timeout 2h modal run train.py", DENY, FORBID),
    ("timeout 0 modal run train.py", DENY, FORBID),  # 0 means no limit
    ("timeout -s INT 120 modal run train.py", ALLOW, LAUNCH),
    ("timeout --kill-after=10 60 modal run train.py", ALLOW, LAUNCH),
    ("timeout -k 5 --foreground 90s modal run train.py", ALLOW, LAUNCH),
    ("timeout 60 timeout 2h modal run train.py", ALLOW, LAUNCH),
    ("timeout 2h timeout 60 modal run train.py", ALLOW, LAUNCH),
    ("timeout 5m bash -c 'modal run train.py'", ALLOW, LAUNCH),
    ("timeout 300 modal run train.py &", DENY, FORBID),
    ("timeout 300 nohup modal run train.py", DENY, FORBID),
    ("modal run train.py --smoke", DENY, FORBID),  # a flag the function may ignore
    ("modal run train.py --max-steps 10", DENY, FORBID),
    ("timeout 120 modal serve app.py", ALLOW, LAUNCH),
    ("timeout -s 0 300 modal run train.py", DENY, FORBID),  # signal 0 ends nothing
    ("timeout -s USR2 300 modal run train.py", DENY, FORBID),
    ("timeout -s USR2 -k 10 60 modal run train.py", ALLOW, LAUNCH),  # KILL after 70 s
    ("timeout --signal=SIGKILL 60 modal run train.py", ALLOW, LAUNCH),
    ("timeout 300 modal run train.py -s0", ALLOW, LAUNCH),  # the function's -s0, not timeout's
]

# -- backgrounding instead of --detach ----------------------------------------------------
BACKGROUND = [
    ("modal run train.py &", DENY, FORBID),
    ("nohup modal run train.py > out.log 2>&1 &", DENY, FORBID),
    ("nohup modal run train.py", DENY, FORBID),
    ("setsid modal run train.py", DENY, FORBID),
    ("modal run train.py & disown", DENY, FORBID),
    ("modal run -d train.py &", DENY, FORBID),  # detached, but errors and app id are lost
    ("nohup modal run --detach train.py > launch.log &", DENY, FORBID),
    ("(modal run --detach train.py &)", DENY, FORBID),
    ("screen -dmS train modal run train.py", DENY, FORBID),
    ("screen -d -m -S train bash -c 'modal run -d train.py'", DENY, FORBID),
    ("screen -S train -X stuff 'modal run train.py\\n'", DENY, FORBID),
    ("tmux new -d -s t 'modal run train.py'", DENY, FORBID),
    ('tmux new-session -d "modal run --detach train.py"', DENY, FORBID),
    ("tmux send-keys -t train 'modal run train.py' Enter", DENY, FORBID),
    ("systemd-run --user modal run train.py", DENY, FORBID),
    ("for i in 1 2; do modal run -d x$i.py; done &", DENY, FORBID),
    ("trainward launch experiments/x.yaml &", DENY, FORBID),
    ("nohup python scripts/modal_train.py &", DENY, FORBID),
    ("modal deploy app.py &", DENY, FORBID),
    ("trainward status run-1 &", ALLOW, RO),  # reads are fine in the background
]

# -- launchers: venvs, absolute paths, python -m, uv, pipx, poetry ------------------------
LAUNCHERS = [
    (".venv/bin/modal run train.py", DENY, FORBID),
    ("/usr/local/bin/modal run -d train.py", ALLOW, LAUNCH),
    ("python -m modal run train.py", DENY, FORBID),
    ("python3 -m modal run --detach train.py", ALLOW, LAUNCH),
    ("python3.11 -m modal volume ls data /runs", ALLOW, RO),
    ("python -um modal run -d train.py", ALLOW, LAUNCH),
    (".venv/bin/python -m modal run x.py::train --detach", DENY, FORBID),
    ("uv run modal run train.py", DENY, FORBID),
    ("uv run --with modal modal run -d train.py", ALLOW, LAUNCH),
    ("uv run -m modal run train.py", DENY, FORBID),
    ("uv --directory repo run modal app stop x", ASK, DESTR),
    ("uv tool run modal app stop x", ASK, DESTR),
    ("uvx modal run train.py", DENY, FORBID),
    ("uvx --from modal modal volume delete data", ASK, DESTR),
    ("pipx run modal run train.py", DENY, FORBID),
    ("pipx run modal run --detach train.py", ALLOW, LAUNCH),
    ("poetry run modal run train.py", DENY, FORBID),
    ("pdm run modal app list", ALLOW, RO),
    ("conda run -n ml modal run train.py", DENY, FORBID),
    ("uv pip install modal", ALLOW, OTHER),
    ("python -m trainward stop run-1 --yes", ASK, DESTR),
    ("python -m trainward.cli status run-1", ALLOW, RO),
    (".venv/bin/trainward stop run-1 --yes", ASK, DESTR),
]

# -- other wrappers -------------------------------------------------------------------------
WRAPPERS = [
    ("env MODAL_PROFILE=work modal run train.py", DENY, FORBID),
    ("MODAL_ENVIRONMENT=dev modal run -d train.py", ALLOW, LAUNCH),
    ("A=1 B=2 modal app stop x", ASK, DESTR),
    ("env -i PATH=/bin modal app stop x", ASK, DESTR),
    ('env -S "modal run train.py"', DENY, FORBID),
    ("sudo modal app stop x", ASK, DESTR),
    ("sudo -u bob -E modal run train.py", DENY, FORBID),
    ("nice -n 10 modal run train.py", DENY, FORBID),
    ("ionice -c3 modal run -d train.py", ALLOW, LAUNCH),
    ("exec modal run train.py", DENY, FORBID),
    ("exec modal run -d train.py", ALLOW, LAUNCH),
    ("command modal run train.py", DENY, FORBID),
    ("command -v modal", ALLOW, RO),
    ("time modal run -d train.py", ALLOW, LAUNCH),
    ("stdbuf -oL modal run train.py", DENY, FORBID),
    ("caffeinate -i modal run train.py", DENY, FORBID),
    ("modal app list --json | xargs modal app stop", ASK, DESTR),
    ("xargs -n1 modal app stop < apps.txt", ASK, DESTR),
    ("xargs -I{} modal volume rm data {} < files.txt", ASK, DESTR),
    ("xargs -n1 modal run < refs.txt", DENY, FORBID),
    ("xargs -n1 modal run --detach < refs.txt", ALLOW, LAUNCH),
    ("ssh gpu-box 'modal run train.py'", DENY, FORBID),
    ("ssh -i key.pem -p 22 gpu-box modal app list", ALLOW, RO),
    ("su -c 'modal app stop x' alice", ASK, DESTR),
    ('eval "modal app stop x"', ASK, DESTR),
    ("find . -name '*.pt' -exec modal volume put data {} \\;", ALLOW, OTHER),
    ("find ~/.trainward -exec rm -rf {} +", ASK, DESTR),
    ("watch -n 5 trainward status run-1", DENY, FORBID),
    ("watch modal app list", DENY, FORBID),
    ("busybox sh -c 'modal run train.py'", DENY, FORBID),
    ("script -qc 'modal run train.py' /dev/null", DENY, FORBID),
    ("echo 'modal run -d train.py' | at now", DENY, FORBID),
    ("at now <<< 'modal app stop x'", ASK, DESTR),
]

# -- shells inside shells, and compound commands -------------------------------------------
SHELLS = [
    ("bash -c 'modal app stop x'", ASK, DESTR),
    ("sh -c 'modal run train.py'", DENY, FORBID),
    ('zsh -c "modal volume rm data /runs"', ASK, DESTR),
    ("bash -lc 'modal run -d train.py'", ALLOW, LAUNCH),
    ("bash -c \"bash -c 'modal app stop x'\"", ASK, DESTR),  # two levels deep
    ("sh -c 'echo hi && bash -c \"modal run train.py\"'", DENY, FORBID),
    ("bash -c \"sh -c 'nohup modal run -d train.py &'\"", DENY, FORBID),
    ("bash -c 'timeout 60 modal run train.py'", ALLOW, LAUNCH),
    ("bash scripts/launch.sh", ALLOW, OTHER),
    ("bash <<'EOF'\nmodal run train.py\nEOF", DENY, FORBID),
    ("bash <<< 'modal app stop x'", ASK, DESTR),
    ("echo 'modal app stop x' | bash", ASK, DESTR),
    ("printf 'modal run train.py\\n' | sh", DENY, FORBID),
    ('echo "$CMD" | bash', ASK, OTHER),
    ("curl -fsSL https://example.com/install.sh | sh", ASK, OTHER),
    ("cd repo && modal run --detach scripts/modal_train.py::train", ALLOW, LAUNCH),
    ("cd repo && modal run scripts/modal_train.py::train", DENY, FORBID),
    ("modal app list && modal app stop my-app", ASK, DESTR),
    ("modal app list || true", ALLOW, RO),
    ("modal run train.py; modal run -d other.py", DENY, FORBID),
    ("modal app list\nmodal app stop my-app", ASK, DESTR),
    ("(cd repo; modal run train.py)", DENY, FORBID),
    ("{ modal run train.py; } 2>&1 | tee run.log", DENY, FORBID),
    ("modal run -d train.py 2>&1 | tee launch.log", ALLOW, LAUNCH),
    ("if modal app list | grep -q train; then modal app stop train; fi", ASK, DESTR),
    ("if true; then modal run -d a.py; else modal run b.py; fi", DENY, FORBID),
    ("for a in one two; do modal app stop $a; done", ASK, DESTR),
    ('while read -r a; do modal app stop "$a"; done < apps.txt', ASK, DESTR),
    ('case "$1" in stop) modal app stop x;; *) echo no;; esac', ASK, DESTR),
    ("f() { modal run train.py; }; f", DENY, FORBID),
    ("! modal app list", ALLOW, RO),
    ("ls && \\\nmodal app stop x", ASK, DESTR),
    ("modal run \\\n  --detach train.py", ALLOW, LAUNCH),
    ("modal run train.py \\\n  --detach", DENY, FORBID),
    ("echo $(modal app stop x)", ASK, DESTR),
    ('echo "$(modal run train.py)"', DENY, FORBID),
    ("echo `modal app stop x`", ASK, DESTR),
    ("echo $((1 + $(modal app stop x | wc -l)))", ASK, DESTR),
    ("x=$(modal app list --json)", ALLOW, OTHER),
    ("diff <(modal volume ls a /) <(modal volume ls b /)", ALLOW, RO),
    ("cat <<EOF\n$(modal app stop x)\nEOF", ASK, DESTR),
    ("cat <<'EOF'\n$(modal app stop x)\nEOF", ALLOW, RO),
    ("cat <<EOF > notes.md\nmodal run train.py\nEOF", ALLOW, OTHER),
    ("modal app list # && modal app stop x", ALLOW, RO),
]

# -- quoting and near misses: text that only mentions a dangerous command -------------------
QUOTING = [
    ('echo "modal run x"', ALLOW, RO),
    ("echo 'modal app stop x; modal volume rm data /'", ALLOW, RO),
    ('grep "modal app stop" notes.md', ALLOW, RO),
    ('grep "loss$" train.log', ALLOW, RO),
    ('grep -rn "modal run" docs/', ALLOW, RO),
    ('git commit -m "modal run train.py without --detach is bad"', ALLOW, OTHER),
    ('trainward guard "modal app stop x"', ALLOW, RO),
    ('"modal" run train.py', DENY, FORBID),
    ("'modal' 'run' '--detach' train.py", ALLOW, LAUNCH),
    ("mo''dal run train.py", DENY, FORBID),
    ("m\\odal run train.py", DENY, FORBID),
    ('modal app stop "my app"', ASK, DESTR),
    ("$(which modal) run train.py", ASK, OTHER),
    ("$MODAL app stop x", ASK, OTHER),
    ("$CMD", ASK, OTHER),
    ('m() { modal "$@"; }; m run train.py', ASK, OTHER),  # the subcommand hides in "$@"
    ("modal app $VERB my-app", ASK, OTHER),
    ("trainward $CMD run-1", ASK, OTHER),
    ("modal app logs $APP", ALLOW, RO),
    ("modal run --detach $SCRIPT", ALLOW, LAUNCH),
    ('"$EDITOR" notes.md', ALLOW, OTHER),
]

# -- destructive: ask -------------------------------------------------------------------
DESTRUCTIVE = [
    ("modal app stop my-app", ASK, DESTR),
    ("modal app stop --yes ap-AbCdEfGhIjKlMnOpQrStUv", ASK, DESTR),
    ("modal container stop ta-123", ASK, DESTR),
    ("modal app rollback my-app", ASK, DESTR),
    ("modal app rollover my-app", ASK, DESTR),
    ("modal volume rm data /runs/r1", ASK, DESTR),
    ("modal volume rm -r data /", ASK, DESTR),
    ("modal volume delete data", ASK, DESTR),
    ("modal volume rename data data-old", ASK, DESTR),
    ("modal volume put -f data ./ds /ds", ASK, DESTR),
    ("modal volume put data ./ds /ds --force", ASK, DESTR),
    ("modal volume cp data /a /b", ASK, DESTR),
    ("modal volume get --force data /ckpt/best.pt .", ASK, DESTR),
    ("modal secret delete wandb", ASK, DESTR),
    ("modal secret create --force wandb WANDB_API_KEY=$WANDB_API_KEY", ASK, DESTR),
    ("modal environment delete dev", ASK, DESTR),
    ("modal dict clear cache", ASK, DESTR),
    ("modal queue delete jobs", ASK, DESTR),
    ("trainward stop run-1 --yes", ASK, DESTR),
    ("trainward data push ./ds --delete", ASK, DESTR),
    ("rm -rf ~/.trainward", ASK, DESTR),
    ("rm -rf $TRAINWARD_HOME/volumes", ASK, DESTR),
    ('rm -rf "$HOME/.trainward/runs.jsonl"', ASK, DESTR),
    ("rm -r .trainward", ASK, DESTR),
    ("rm -rf ~", ASK, DESTR),
    ("find ~/.trainward -name '*.pt' -delete", ASK, DESTR),
    ("kill 12345", ASK, DESTR),
    ("kill -9 12345", ASK, DESTR),
    ("pkill -f trainward", ASK, DESTR),
    ("killall python", ASK, DESTR),
]

# -- blocking streams: deny unless bounded -----------------------------------------------
STREAMS = [
    ("modal app logs my-app -f", DENY, FORBID),
    ("modal app logs --follow my-app", DENY, FORBID),
    ("modal app logs my-app -f | grep loss", DENY, FORBID),
    ("modal container logs -f ta-123", DENY, FORBID),
    ("tail -f ~/.trainward/local/runs/r1/stdout.log", DENY, FORBID),
    ("tail -F train.log", DENY, FORBID),
    ("tail -fn 50 train.log", DENY, FORBID),
    ("tail -n 50 --follow=name train.log", DENY, FORBID),
    ("less +F train.log", DENY, FORBID),
    ("journalctl -fu trainward", DENY, FORBID),
    ("timeout 30 modal app logs my-app -f", ALLOW, RO),
    ("timeout 20 tail -f train.log", ALLOW, RO),
    ("modal serve app.py", DENY, FORBID),
    ("modal shell", DENY, FORBID),
    ("modal shell train.py::train", DENY, FORBID),
]

# -- secrets on the command line -----------------------------------------------------------
SECRETS = [
    ("modal secret create wandb WANDB_API_KEY=abc123", ASK, OTHER),
    ("modal secret create wandb WANDB_API_KEY=$WANDB_API_KEY", ALLOW, OTHER),
    ('modal secret create wandb WANDB_API_KEY="$WANDB_API_KEY"', ALLOW, OTHER),
    ("modal secret create hf HF_TOKEN=${HF_TOKEN}", ALLOW, OTHER),
    ("modal secret create hf HF_TOKEN=$(cat ~/.hf_token)", ALLOW, OTHER),
    ("modal secret create mix A=$A B=plain", ASK, OTHER),
    ("modal secret create mix A=pre$A", ASK, OTHER),
    ("modal secret create wandb --from-dotenv .env", ALLOW, OTHER),
    ("modal secret create wandb --from-json secrets.json", ALLOW, OTHER),
]

# -- read-only: allow ------------------------------------------------------------------------
READ_ONLY = [
    ("modal app list", ALLOW, RO),
    ("modal app list --json", ALLOW, RO),
    ("modal app logs my-app", ALLOW, RO),
    ("modal app logs my-app --tail 1000", ALLOW, RO),
    ("modal app logs my-app | tail -n 50", ALLOW, RO),
    ("modal app history my-app", ALLOW, RO),
    ("modal container list", ALLOW, RO),
    ("modal container logs ta-123", ALLOW, RO),
    ("modal volume ls data /runs", ALLOW, RO),
    ("modal volume list", ALLOW, RO),
    ("modal volume get data /runs/r1/status.json .", ALLOW, RO),
    ("modal secret list", ALLOW, RO),
    ("modal token info", ALLOW, RO),
    ("modal profile current", ALLOW, RO),
    ("modal environment list", ALLOW, RO),
    ("modal --help", ALLOW, RO),
    ("modal --version", ALLOW, RO),
    ("modal app stop --help", ALLOW, RO),
    ("modal volume", ALLOW, RO),
    ("trainward status run-1 --json", ALLOW, RO),
    ("trainward runs", ALLOW, RO),
    ("trainward logs run-1 --tail 200", ALLOW, RO),
    ("trainward pull run-1 best", ALLOW, RO),
    ("trainward doctor --json", ALLOW, RO),
    ("trainward wait run-1", ALLOW, RO),
    ("trainward data status", ALLOW, RO),
    ("trainward launch experiments/x.yaml --dry-run", ALLOW, RO),
    ("trainward stop run-1 --dry-run", ALLOW, RO),
    ("trainward data push ./ds --delete --dry-run", ALLOW, RO),
    ("trainward --help", ALLOW, RO),
    ("wandb status", ALLOW, RO),
    ("ls -la", ALLOW, RO),
    ("cat README.md", ALLOW, RO),
    ("git status", ALLOW, RO),
    ("git log --oneline -5", ALLOW, RO),
    ("nvidia-smi", ALLOW, RO),
    ("ps aux | grep modal", ALLOW, RO),
    ("pgrep -f trainward", ALLOW, RO),
    ("du -sh ~/.trainward", ALLOW, RO),
    ("cat ~/.trainward/runs.jsonl | jq .", ALLOW, RO),
    ("kill -0 12345", ALLOW, RO),
    ("kill -l", ALLOW, RO),
    ("echo $TRAINWARD_HOME", ALLOW, RO),
    ("cd /repo && ls", ALLOW, RO),
]

# -- launches: allow -------------------------------------------------------------------------
LAUNCHES = [
    ("trainward launch experiments/x.yaml --json", ALLOW, LAUNCH),
    ("trainward sweep experiments/sweep.yaml", ALLOW, LAUNCH),
    ("modal deploy app.py", ALLOW, LAUNCH),
    ("python scripts/modal_train.py", ALLOW, LAUNCH),
    (".venv/bin/python scripts/modal_train.py --epochs 3", ALLOW, LAUNCH),
    ("python scripts/modal_train.py --help", ALLOW, RO),
]

# -- everything else: allow as other ---------------------------------------------------------
OTHERS = [
    ("python train.py --config x.yaml", ALLOW, OTHER),
    ("python -c 'print(1)'", ALLOW, OTHER),
    ("pip install -e .", ALLOW, OTHER),
    ("pytest -q", ALLOW, OTHER),
    ("rm build.log", ALLOW, OTHER),
    ("mkdir -p runs", ALLOW, OTHER),
    ("wandb login", ALLOW, OTHER),
    ("modal volume create data", ALLOW, OTHER),
    ("modal volume put data ./ds /ds", ALLOW, OTHER),
    ("modal token new", ASK, OTHER),  # opens a browser and waits
    ("modal shell train.py::train --cmd 'ls /vol'", ASK, OTHER),
    ("modal container exec ta-123 nvidia-smi", ASK, OTHER),
    ("trainward data push ./ds", ALLOW, OTHER),
    ("sleep 60", ALLOW, OTHER),
    ("disown", ALLOW, OTHER),
    ("MODAL_ENVIRONMENT=dev", ALLOW, OTHER),
    ("", ALLOW, OTHER),
    ("modal app logs my-app > logs.txt 2>&1", ALLOW, OTHER),  # read-only, but writes a file
]

# -- not shell: never allowed -----------------------------------------------------------------
UNPARSEABLE = [
    ('modal run "train.py', ASK, OTHER),
    ("echo 'unterminated", ASK, OTHER),
    ("bash -c 'modal run \"train.py'", ASK, OTHER),
    ("echo $(ls", ASK, OTHER),
    ("(ls", ASK, OTHER),
    ("ls )", ASK, OTHER),
    ("if true; then ls", ASK, OTHER),
    ("{ ls }", ASK, OTHER),
    ("ls &&", ASK, OTHER),
    ("| ls", ASK, OTHER),
]

CORPUS: list[tuple[str, str, str]] = [
    *MODAL_RUN,
    *SMOKE,
    *BACKGROUND,
    *LAUNCHERS,
    *WRAPPERS,
    *SHELLS,
    *QUOTING,
    *DESTRUCTIVE,
    *STREAMS,
    *SECRETS,
    *READ_ONLY,
    *LAUNCHES,
    *OTHERS,
    *UNPARSEABLE,
]

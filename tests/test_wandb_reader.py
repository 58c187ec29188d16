"""WandbReader against the fake W&B server, through the real wandb 0.31 client (wandb-core).

The reader runs in this process; wandb-core is its own process anyway. What each check
sends is read from the fake's request log, not from the reader's own count.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from trainward.errors import AuthError, RemoteUnavailable, RunNotFound, UsageError
from trainward.tracking.wandb import WandbReader, history_request, metric_keys, parse_path

from tests.fakes.wandb_fake.client import (
    FAKE_API_KEY,
    REPO_ROOT,
    WandbFake,
    client_env,
    graphql_ops,
)

TIMEOUT = 2.0
BOUND = TIMEOUT + 2.0  # documented: timeout + ~1 s, plus the one-time import of wandb


@pytest.fixture(scope="module", autouse=True)
def wandb_env(wandb_fake_server: WandbFake) -> Iterator[None]:
    """Point this process's wandb at the fake and keep its files in the fake's temp dir."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in wandb_fake_server.env.items():
            mp.setenv(key, value)
        yield


def reader(fake: WandbFake, timeout: float = TIMEOUT) -> WandbReader:
    return WandbReader(base_url=fake.url, api_key=FAKE_API_KEY, timeout=timeout)


def test_find_by_name_by_id_and_latest(wandb_fake: WandbFake) -> None:
    now = time.time()
    old = wandb_fake.seed_run(
        "ent", "find", "baseline", rows=50, state="finished", created_at=now - 3600
    )
    new = wandb_fake.seed_run(
        "ent",
        "find",
        "wm-lr3e-4",
        rows=2_000,
        val_every=500,
        heartbeat_at=now - 30,
        config={"lr": 3e-4, "epochs": 4},
        summary={"best_val": 0.42},
        created_at=now - 200,
    )
    r = reader(wandb_fake)

    by_name = r.find("ent/find", "baseline")
    by_id = r.find(f"ent/find/{new['id']}")
    latest = r.find("ent/find")

    assert (by_name.id, by_name.name, by_name.state) == (old["id"], "baseline", "finished")
    assert by_id.name == "wm-lr3e-4" and latest.id == new["id"]
    assert r.find("ent/find", new["id"]).name == "wm-lr3e-4"  # run= accepts an id too
    assert latest.state == "running" and latest.config == {"lr": 3e-4, "epochs": 4}
    assert latest.heartbeat_at == pytest.approx(now - 30, abs=2)
    assert latest.created_at == pytest.approx(now - 200, abs=2)
    assert latest.last_step == 1999 and latest.summary["_step"] == 1999
    assert latest.summary["best_val"] == 0.42 and "_timestamp" in latest.summary
    assert latest.url.endswith(f"/ent/find/runs/{new['id']}")
    assert [row["_step"] for row in latest.history] == [499, 999, 1499, 1999]
    row = latest.history[-1]
    assert {"_timestamp", "_runtime", "epoch", "val_loss/total", "val_metric/position_mae"} <= set(
        row
    )
    assert {"val_action/cat_move", "val_action/cat_wait", "val_action/cat_turn"} <= set(row)
    assert json.loads(json.dumps(latest.to_dict()))["id"] == new["id"]


def test_requests_per_check_do_not_grow_with_history(wandb_fake: WandbFake) -> None:
    small = wandb_fake.seed_run("ent", "count", "small", rows=100, val_every=10)
    big = wandb_fake.seed_run("ent", "count", "big", rows=100_000, val_every=1_000)
    seen = {}
    for run in (small, big):
        r = reader(wandb_fake)  # a fresh reader: its first check also builds wandb.Api()
        wandb_fake.reset_requests()
        first = r.find("ent/count", run["name"])
        first_ops = graphql_ops(wandb_fake.requests())
        wandb_fake.reset_requests()
        again = r.find("ent/count", run["name"])
        log = wandb_fake.requests()
        seen[run["name"]] = (first_ops, graphql_ops(log), sum(e["bytes_out"] for e in log))
        assert first.requests == len(first_ops) and again.requests == len(graphql_ops(log))
        assert len(again.history) == (10 if run is small else 100)

    # The one Viewer comes from wandb.Api() verifying the key: once per reader, not per check.
    assert seen["small"][0] == seen["big"][0] == ["Viewer", "Runs", "RunSampledHistory"]
    assert seen["small"][1] == seen["big"][1] == ["Runs", "RunSampledHistory"]
    assert seen["big"][2] < 64_000, "a check's answer is sized by the epochs, not the steps"


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        ("429", "rate-limiting (HTTP 429)"),
        ("500", "failing (HTTP 500)"),
        ("hang", "does not answer (hanging)"),
        ("down", "closed the connection without an answer"),
    ],
)
def test_faults_raise_remote_unavailable_naming_the_cause(
    wandb_fake: WandbFake, fault: str, cause: str
) -> None:
    wandb_fake.seed_run("ent", "faults", "victim", rows=10)
    r = reader(wandb_fake)
    {
        "429": lambda: wandb_fake.fail(429),
        "500": lambda: wandb_fake.fail(500),
        "hang": lambda: wandb_fake.hang(),
        "down": lambda: wandb_fake.down(),
    }[fault]()

    with pytest.raises(RemoteUnavailable) as err:
        r.find("ent/faults", "victim")  # bounded by the reader's timeout (bench/, not timed here)
    assert err.value.exit_code == 5 and "did not answer" in err.value.message
    assert cause in err.value.message
    assert FAKE_API_KEY not in json.dumps(err.value.to_dict())

    wandb_fake.clear_faults()  # the same reader recovers once W&B is back
    assert r.find("ent/faults", "victim").name == "victim"


def test_a_few_429s_are_retried_within_the_bound(wandb_fake: WandbFake) -> None:
    wandb_fake.seed_run("ent", "retry", "flaky", rows=10)
    r = reader(wandb_fake, timeout=5.0)
    r.find("ent/retry", "flaky")
    wandb_fake.reset_requests()
    wandb_fake.fail(429, count=1)
    assert r.find("ent/retry", "flaky").name == "flaky"
    assert [e["status"] for e in wandb_fake.requests()][:2] == [429, 200]


def test_unreachable_host_raises_remote_unavailable() -> None:
    r = WandbReader(base_url="http://127.0.0.1:9", api_key=FAKE_API_KEY, timeout=TIMEOUT)
    with pytest.raises(RemoteUnavailable, match="refused"):
        r.find("ent/proj")


def test_rejected_key_is_an_auth_error(wandb_fake: WandbFake) -> None:
    wandb_fake.seed_run("ent", "auth", "r", rows=1)
    wandb_fake.fail(401)
    with pytest.raises(AuthError, match="rejected the API key") as err:
        reader(wandb_fake).find("ent/auth")
    assert "wandb login" in (err.value.hint or "")


def test_unknown_run_says_what_to_try(wandb_fake: WandbFake) -> None:
    wandb_fake.seed_run("ent", "nf", "alpha", rows=5)
    wandb_fake.seed_run("ent", "nf", "beta", rows=5)
    r = reader(wandb_fake)
    with pytest.raises(RunNotFound) as err:
        r.find("ent/nf", "gamma")
    hint = err.value.hint or ""
    assert err.value.exit_code == 4 and "'gamma'" in err.value.message
    assert "alpha (id " in hint and "beta (id " in hint and "ent/nf for the latest run" in hint

    with pytest.raises(RunNotFound, match="project ent/no-such-project not found"):
        r.find("ent/no-such-project")


def test_missing_key_is_an_auth_error_before_any_request(wandb_fake: WandbFake, tmp_path) -> None:
    env = client_env(wandb_fake)
    del env["WANDB_API_KEY"]
    env.update(HOME=str(tmp_path), NETRC=str(tmp_path / "no-netrc"), WANDB_CONFIG_DIR=str(tmp_path))
    code = (
        "import json\n"
        "from trainward.errors import TrainwardError\n"
        "from trainward.tracking.wandb import WandbReader\n"
        "try:\n"
        "    WandbReader(timeout=30).find('ent/proj')\n"
        "except TrainwardError as e:\n"
        "    print(json.dumps(e.to_dict()))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    result = json.loads(out.stdout)
    assert result["type"] == "auth" and result["exit_code"] == 5
    assert "wandb login" in result["hint"] and "WANDB_API_KEY" in result["hint"]
    assert wandb_fake.requests() == []  # decided before any request: nothing to wait on


def test_malformed_key_is_an_auth_error_without_the_key(wandb_fake: WandbFake) -> None:
    with pytest.raises(AuthError) as err:
        WandbReader(base_url=wandb_fake.url, api_key="short-secret-key").find("ent/proj")
    assert "short-secret-key" not in json.dumps(err.value.to_dict())


def test_history_request_keeps_keys_that_share_rows() -> None:
    def counts(**c: int) -> dict:
        return {
            "lastStep": 99,
            "keys": {
                k.replace("__", "/"): {"typeCounts": [{"type": "number", "count": n}]}
                for k, n in c.items()
            },
        }

    summary = {"val_action/cat_a": 1.0, "val_action/cat_b": 1.0, "loss": 0.1}
    hk = counts(
        _step=100,
        _timestamp=100,
        _runtime=100,
        epoch=100,
        val_loss__total=10,
        val_metric__position_mae=5,
        val_action__cat_a=10,
        val_action__cat_b=10,
    )
    wanted = ("_timestamp", "_step", "epoch", "val_loss/total", "val_metric/position_mae")
    keys, samples = history_request([*wanted, *metric_keys({}, summary)], summary, hk)
    # position_mae is logged every other validation: asking for it would drop half the rows
    assert keys == ["_timestamp", "epoch", "val_loss/total", "val_action/cat_a", "val_action/cat_b"]
    assert samples >= 1000

    dense_only = history_request(
        ("_timestamp", "_runtime", "val_loss/total"),
        {},
        counts(_step=50, _timestamp=50, _runtime=50),
    )
    assert dense_only[0] == ["_timestamp", "_runtime"]
    no_counts = history_request(
        ("_timestamp", "val_loss/total", "epoch"), {"_timestamp": 1, "epoch": 2}, {}
    )
    assert no_counts[0] == ["_timestamp", "epoch"]


def test_parse_path_forms() -> None:
    assert parse_path("ent/proj") == ("ent", "proj", None)
    assert parse_path("ent/proj", "name") == ("ent", "proj", "name")
    assert parse_path("ent/proj/abc123") == ("ent", "proj", "abc123")
    assert parse_path("ent/proj/runs/abc123") == ("ent", "proj", "abc123")
    for bad in ("proj", "a/b/c/d/e", ""):
        with pytest.raises(UsageError):
            parse_path(bad)
    with pytest.raises(UsageError):
        parse_path("ent/proj/abc", "other")


def test_module_import_does_not_import_wandb() -> None:
    code = (
        "import sys, trainward.tracking.wandb; assert 'wandb' not in sys.modules, 'imported wandb'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True, timeout=60)


def test_fake_fault_windows(wandb_fake: WandbFake) -> None:
    """The fake's own fault controls: a count, a time window, a hang that ends."""
    import urllib.error
    import urllib.request

    def status() -> int:
        body = json.dumps({"query": "query Viewer { viewer { id } }"}).encode()
        try:
            with urllib.request.urlopen(wandb_fake.url + "/graphql", data=body, timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    wandb_fake.fail(503, count=2)
    assert [status(), status(), status()] == [503, 503, 200]
    wandb_fake.fail(500, seconds=0.3)
    assert status() == 500
    time.sleep(0.4)
    assert status() == 200
    wandb_fake.hang(seconds=0.5)
    started = time.monotonic()
    assert status() == 200 and time.monotonic() - started >= 0.45
    assert [e["fault"] for e in wandb_fake.requests()] == ["503", "503", None, "500", None, "hang"]

"""Alerts: a run's end and a stale run, posted to a webhook (a receiver on 127.0.0.1) from
where the run executes, at most once per event; `trainward watch` for what no worker could
report. Real detached runs on the local backend (tests/helpers/ticker.py)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from trainward.backends import get_backend
from trainward.config.experiment import Alerts
from trainward.core.contracts import AlertRecord
from trainward.runs.alerts import DirBook, deliver, outcome_event
from trainward.runs.registry import Registry
from trainward.runs.watch import watch_runs

from tests.conftest import tw, wait_for
from tests.helpers.webhook import Receiver

ALERTS = "alerts: {{webhook_secret: hook, on: [{on}], stale_after: {stale}}}"


def volume_run(home: Path, run: str) -> Path:
    return home / "volumes" / "trainward" / "runs" / run


def records(home: Path, run: str) -> dict[str, dict]:
    folder = volume_run(home, run) / "alerts"
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def pgid(home: Path, run: str) -> int:
    """The process group of a local run (to SIGKILL a hung one at teardown)."""
    proc = home / "local" / "runs" / run / "proc.json"
    return int(wait_for(lambda: proc.exists() and json.loads(proc.read_text()).get("pgid"), 30))


def launch(cfg: Path, name: str, url: str) -> None:
    res = tw("launch", str(cfg), "--run-name", name, env={"TRAINWARD_WEBHOOK_URL": url})
    assert res.code == 0, res.stderr


@pytest.fixture
def hook():
    with Receiver() as receiver:
        yield receiver


def test_a_finished_run_alerts_once_from_its_worker(ticker_experiment, hook, tw_home) -> None:
    cfg = ticker_experiment(
        name="al", steps=4, interval=0.01, extra=ALERTS.format(on="finished, failed", stale="10m")
    )
    launch(cfg, "al-1", hook.url)
    assert tw("wait", "al-1", "--timeout", "60", "--interval", "0.1").code == 0
    (post,) = hook.wait(1)
    assert set(post) == {"text"} and post["text"].startswith("trainward: run al-1 finished")
    assert hook.headers[0]["Content-Type"] == "application/json"
    rec = records(tw_home, "al-1")["finished"]
    assert rec["sent"] and rec["status"] == 200 and rec["by"] == "worker"
    assert hook.url not in json.dumps(rec)  # the URL is a secret: never recorded
    res = tw("watch", "--json", env={"TRAINWARD_WEBHOOK_URL": hook.url})
    assert res.code == 0 and res.json()["alerts"] == [] and res.json()["checked"] == 1
    assert len(hook.posts) == 1


def test_a_failed_run_alerts_only_after_its_last_retry(ticker_experiment, hook, tw_home) -> None:
    extra = "\n".join([ALERTS.format(on="failed", stale="10m")])
    cfg = ticker_experiment(name="alf", steps=5, interval=0.01, retries=1, extra=extra)
    cfg.write_text(cfg.read_text().replace("interval: 0.01}", "interval: 0.01, fail_at: 2}"))
    launch(cfg, "alf-1", hook.url)
    tw("wait", "alf-1", "--timeout", "90", "--interval", "0.2")
    wait_for(lambda: tw("status", "alf-1", "--json").json()["verdict"] == "failed", 60)
    (post,) = hook.wait(1)
    assert "alf-1 failed: RuntimeError: boom at step 2" in post["text"]
    assert tw("status", "alf-1", "--json").json()["attempt"] == 2  # two attempts, one alert
    assert list(records(tw_home, "alf-1")) == ["failed"]


def test_a_stopped_run_alerts_json_format(ticker_experiment, hook, tw_home) -> None:
    extra = "alerts: {webhook_secret: hook, on: [stopped], format: json}"
    cfg = ticker_experiment(name="als", steps=400, interval=0.05, extra=extra)
    launch(cfg, "als-1", hook.url)
    wait_for(lambda: (tw("status", "als-1", "--json").json()["progress"].get("step") or 0) > 1, 60)
    assert tw("stop", "als-1", "--yes").code == 0
    (post,) = hook.wait(1)
    assert post["run"] == "als-1" and post["event"] == "stopped" and post["by"] == "worker"
    assert "stopped" in post["text"] and "sent" not in post


def test_watch_alerts_a_stale_run_once(ticker_experiment, hook, tw_home, kill_on_exit) -> None:
    cfg = ticker_experiment(
        name="alw", steps=50, interval=1.1, extra=ALERTS.format(on="stale", stale="10m")
    )  # the ledger writes progress every 2 s: step 2 is on disk before it hangs at step 3
    cfg.write_text(cfg.read_text().replace("interval: 1.1}", "interval: 1.1, hang_at: 3}"))
    launch(cfg, "alw-1", hook.url)
    kill_on_exit.append(pgid(tw_home, "alw-1"))
    wait_for(lambda: (tw("status", "alw-1", "--json").json()["progress"].get("step") or 0) >= 1, 60)
    env = {"TRAINWARD_WEBHOOK_URL": hook.url}
    assert tw("watch", "--json", env=env).json()["alerts"] == []  # 10 minutes not yet passed
    dry = wait_for(
        lambda: tw("watch", "--stale-after", "1", "--dry-run", "--json").json()["alerts"], 30
    )
    assert dry[0]["event"] == "stale" and hook.posts == []
    res = tw("watch", "--stale-after", "1", "--json", env=env)
    assert res.code == 0 and [a["key"] for a in res.json()["alerts"]] == ["stale-1"]
    assert "alw-1 is stale: nothing logged or printed for" in hook.wait(1)[0]["text"]
    assert tw("watch", "--stale-after", "1", "--json", env=env).json()["alerts"] == []
    assert len(hook.posts) == 1


def test_watch_announces_an_end_no_worker_reported(ticker_experiment, hook, tw_home) -> None:
    cfg = ticker_experiment(
        name="alb", steps=3, interval=0.01, extra=ALERTS.format(on="finished", stale="10m")
    )
    with Receiver(status=500) as failing:
        launch(cfg, "alb-1", failing.url)
        assert tw("wait", "alb-1", "--timeout", "60", "--interval", "0.1").code == 0
        failing.wait(1)
    assert records(tw_home, "alb-1")["finished"]["status"] == 500  # recorded, not retried
    shutil.rmtree(volume_run(tw_home, "alb-1") / "alerts")  # as if the worker had been killed
    env = {"TRAINWARD_WEBHOOK_URL": hook.url}
    now = time.time
    assert watch_runs(Registry(), get_backend, env=env, clock=now)["alerts"] == []  # grace
    later = watch_runs(Registry(), get_backend, env=env, clock=lambda: now() + 200)
    assert [(a["event"], a["by"], a["sent"]) for a in later["alerts"]] == [
        ("finished", "watch", True)
    ]
    assert "alb-1 finished" in hook.wait(1)[0]["text"]
    gone = watch_runs(Registry(), get_backend, env=env, clock=lambda: now() + 90000)
    assert gone["alerts"] == []  # already sent; and older than --since anyway


def test_watch_exits_1_when_an_alert_cannot_be_sent(
    ticker_experiment, tw_home, kill_on_exit
) -> None:
    cfg = ticker_experiment(
        name="alx", steps=40, interval=1.1, extra=ALERTS.format(on="stale", stale="10m")
    )
    cfg.write_text(cfg.read_text().replace("interval: 1.1}", "interval: 1.1, hang_at: 3}"))
    with Receiver(status=404) as broken:
        launch(cfg, "alx-1", broken.url)
        kill_on_exit.append(pgid(tw_home, "alx-1"))
        wait_for(
            lambda: tw("watch", "--stale-after", "1", "--dry-run", "--json").json()["alerts"], 60
        )
        res = tw("watch", "--stale-after", "1", "--json", env={"TRAINWARD_WEBHOOK_URL": broken.url})
    assert res.code == 1 and res.json()["alerts"][0]["status"] == 404
    assert not res.json()["alerts"][0]["sent"]


def test_deliver_never_writes_the_url(tmp_path: Path) -> None:
    config = Alerts(webhook_secret="hook")
    secret_url = "ftp://user:s3cret@example.invalid/x"
    cases = [
        ({}, "TRAINWARD_WEBHOOK_URL is not set (it comes from the secret hook)"),
        ({"TRAINWARD_WEBHOOK_URL": secret_url}, "TRAINWARD_WEBHOOK_URL is not an http(s) URL"),
        ({"TRAINWARD_WEBHOOK_URL": "http://127.0.0.1:9/s3cret"}, "could not reach the webhook"),
    ]
    for i, (env, error) in enumerate(cases):
        book = DirBook(tmp_path / str(i))
        rec = deliver(AlertRecord("r", "failed", "failed", text="t"), config, book, env=env)
        assert rec is not None and not rec.sent and rec.error.startswith(error)
        written = (book.dir / "failed.json").read_text()
        assert "s3cret" not in written and json.loads(written)["error"] == rec.error
        assert deliver(AlertRecord("r", "failed", "failed"), config, book, env=env) is None


@pytest.mark.parametrize(
    ("state", "code", "attempt", "retries", "event"),
    [
        ("finished", 0, 1, 2, "finished"),
        ("stopped", 143, 1, 2, "stopped"),
        ("timed-out", 124, 1, 2, "timed-out"),
        ("failed", 1, 1, 2, None),  # retried
        ("failed", 1, 3, 2, "failed"),  # the last attempt
        ("failed", 2, 1, 2, "failed"),  # a config error is never retried
        ("preempted", 143, 2, 2, None),
        ("preempted", 143, 3, 2, "preempted"),
        ("running", 0, 1, 2, None),  # handed over to a continuation
    ],
)
def test_which_end_is_alerted(state, code, attempt, retries, event) -> None:
    assert (
        outcome_event(state, code, attempt=attempt, retries=retries, stop_requested=False) == event
    )


def test_alerts_config_adds_its_secret_and_refuses_unknown_events(ticker_experiment) -> None:
    cfg = ticker_experiment(
        name="alc", extra="alerts: {webhook_secret: hook, webhook_env: HOOK_URL}"
    )
    plan = tw("launch", str(cfg), "--dry-run", "--json").json()
    assert {"name": "hook", "required_keys": ["HOOK_URL"]} in plan["secrets"]
    doctor = tw("doctor", "--config", str(cfg), "--json").json()
    check = next(c for c in doctor["checks"] if c["name"] == "secret:hook")
    assert not check["ok"] and "HOOK_URL" in check["detail"]
    res = tw("launch", str(cfg), "--set", "alerts.on=[finished, exploded]", "--dry-run", "--json")
    assert res.code == 2 and "alerts.on.1" in res.json()["error"]["message"]

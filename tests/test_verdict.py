"""The verdict's truth table in docs/status.md, checked row by row against the one function."""

from __future__ import annotations

import re

import pytest
from trainward.runs.verdict import Evidence, verdict

from tests.conftest import REPO

STALE = 600.0
ALSO = {
    "": {},
    "stop asked": {"stop_requested": True},
    "logged recently": {"since_log": 30.0, "since_start": 900.0},
    "silent past stale_after": {"since_log": STALE + 60, "since_start": STALE + 900},
    "nothing logged since a start past stale_after": {"since_log": None, "since_start": STALE + 60},
    "started just now": {"since_log": None, "since_start": 5.0},
}


def table_rows() -> list[tuple[str, str, str, str, str]]:
    text = (REPO / "docs" / "status.md").read_text()
    section = text.split("### The truth table", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] in ("launched", "not-launched"):
            rows.append((cells[0], cells[1], cells[2], cells[3], cells[4]))
    return rows


def judge(registry: str, compute: str, ledger: str, also: str) -> str:
    if registry == "not-launched":
        return "not-launched"
    evidence = Evidence(
        compute="unknown" if compute == "unreadable" else compute,
        ledger=None if ledger in ("none", "unreadable") else ledger,
        compute_readable=compute != "unreadable",
        ledger_readable=ledger != "unreadable",
        stale_after=STALE,
        **ALSO[also],
    )
    return verdict(evidence)[0]


def test_the_table_is_there_and_covers_every_verdict() -> None:
    rows = table_rows()
    assert len(rows) >= 25
    wanted = {"running", "stale", "zombie", "finished", "failed", "preempted", "stopped",
              "timed-out", "pending", "not-launched", "unknown"}  # fmt: skip
    assert {r[4] for r in rows} == wanted


@pytest.mark.parametrize("row", table_rows(), ids=lambda r: "|".join(r))
def test_each_row_of_the_table(row: tuple[str, str, str, str, str]) -> None:
    registry, compute, ledger, also, expected = row
    assert judge(registry, compute, ledger, also) == expected


def test_reasons_say_durations_in_units_a_person_reads() -> None:
    _, reason = verdict(Evidence("running", "running", since_log=479797.3 * 60, since_start=1e9))
    assert reason is not None and re.search(r"\d+\.\d days", reason)

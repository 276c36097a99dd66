"""The command line's progress bar (rate and time left from wall time) and Ctrl-C in a search (results so far, exit 130)."""

from __future__ import annotations

import io
import json
import signal

import pytest
from live_server import live_server, paced_scorers
from rich.console import Console
from test_cli_commands import QUICK, PacedScorer, json_lines

import app.cli.search as cli_search
from app.cli.main import main
from app.cli.progress import COLUMNS, bar
from app.client import Client


class Clock:
    """A clock the test moves by hand (rich's ``get_time``)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def shown(progress) -> list[str]:
    """The count, rate and time-left columns of a bar as they render now."""
    count, rate, _elapsed, eta = (str(column.render(progress.task)).strip() for column in COLUMNS[2:6])
    return [count, rate, eta]


@pytest.mark.parametrize(
    ("done_before", "total", "advanced", "seconds", "expected"),
    [
        (0, 100, 10, 40.0, ["10/100", "0.25/s", "eta 0:06:00"]),  # ten at once after 40 s: not thousands a second
        (0, 12, 12, 12.0, ["12/12", "1.00/s", ""]),  # finished: the rate of the whole run, no time left
        (50, 100, 10, 20.0, ["60/100", "0.50/s", "eta 0:01:20"]),  # resumed: what was done before does not count
        (0, 100, 0, 30.0, ["0/100", "", "eta -:--:--"]),  # nothing done yet: no rate to guess from
    ],
    ids=["burst-after-slow-start", "finished", "resumed", "nothing-yet"],
)
def test_rate_and_time_left_come_from_wall_time_since_the_bar_started(done_before, total, advanced, seconds, expected):
    clock = Clock()
    terminal = Console(file=io.StringIO(), force_terminal=True, width=200)
    with bar("search", total, terminal, done_before=done_before, clock=clock) as progress:
        clock.now = seconds
        for _ in range(advanced):
            progress.advance()
        assert shown(progress) == expected, "count, rate and time left as a person should read them"


class InterruptedScorer(PacedScorer):
    """The paced stand-in, pressing Ctrl-C (a real SIGINT to this process) as it scores the listed architectures."""

    presses_at: tuple[int, ...] = (5,)

    def score_many(self, archs):
        for scored in super().score_many(archs):
            InterruptedScorer.count += 1
            if InterruptedScorer.count in self.presses_at:
                signal.raise_signal(signal.SIGINT)
            yield scored


def test_ctrl_c_ends_an_in_process_search_with_its_results_so_far_and_exit_130(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(InterruptedScorer, "count", 0, raising=False)
    monkeypatch.setattr(cli_search, "Scorer", InterruptedScorer)
    out = tmp_path / "s.json"
    assert main(["search", "--strategy", "random", "--budget", "100", "--top-k", "3", *QUICK, "--out", str(out)]) == 130
    printed = capsys.readouterr()
    saved = json.loads(out.read_text())
    evaluated = saved["evaluations"]
    assert saved["status"] == "cancelled" and 5 <= len(evaluated) < 100, "the search stopped after the batch being scored"
    best = sorted(evaluated, key=lambda e: (-e["score"], e["step"]))[:3]
    assert [r["arch"] for r in json_lines(printed.out)] == [e["arch"] for e in best], "the top table of what was scored"
    assert "interrupted" in printed.err and "Traceback" not in printed.err


def test_a_second_ctrl_c_quits_at_once_without_a_traceback(capsys, monkeypatch):
    monkeypatch.setattr(InterruptedScorer, "count", 0, raising=False)
    monkeypatch.setattr(InterruptedScorer, "presses_at", (2, 3))
    monkeypatch.setattr(cli_search, "Scorer", InterruptedScorer)
    assert main(["search", "--strategy", "random", "--budget", "100", *QUICK]) == 130
    printed = capsys.readouterr()
    assert printed.out == "" and printed.err.rstrip().endswith("naswot: interrupted"), printed.err


def test_ctrl_c_on_a_server_search_cancels_it_there_and_prints_its_results_so_far(capsys, monkeypatch, tmp_path):
    events = Client.events

    def pressed_after_five(self, search_id, **kwargs):
        for n, event in enumerate(events(self, search_id, **kwargs)):
            if n == 5:
                signal.raise_signal(signal.SIGINT)
            yield event

    monkeypatch.setattr(Client, "events", pressed_after_five)
    out = tmp_path / "s.json"
    with live_server(tmp_path, paced_scorers(delay=0.05)) as url:
        code = main(["search", "--strategy", "random", "--budget", "400", "--top-k", "3", "--data", "noise", "--url", url, "--out", str(out)])
        job = Client(url).searches()[0]
    printed = capsys.readouterr()
    saved = json.loads(out.read_text())
    assert code == 130 and job["status"] == "cancelled", f"exit {code}, server-side search {job['status']}"
    assert len(saved["evaluations"]) == job["progress"]["evaluated"] < 400, "--out keeps what the search had when cancelled"
    assert [r["arch"] for r in json_lines(printed.out)] == [e["arch"] for e in job["top"]], "the top table of the cancelled job"
    assert "Traceback" not in printed.err

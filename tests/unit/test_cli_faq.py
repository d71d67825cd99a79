"""`censusbot faq ask|check` in-process through bot.cli.main.main."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from bot.cli.main import main
from faq.content import DEFAULT_CONTENT_DIR


def test_ask_text_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["faq", "ask", "怎么核实普查员的身份", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert set(obj) == {"topic", "score", "alternatives", "outcome"}
    assert obj["topic"] == "verify_enumerator" and 0.0 <= obj["score"] <= 1.0
    assert obj["outcome"] == "answer"
    assert all(isinstance(a, str) for a in obj["alternatives"])


def test_ask_reads_each_stdin_line(capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(
        "怎么核实普查员的身份\n\nhow can I report a fake enumerator\n今天郑州天气怎么样\n"))
    assert main(["faq", "ask", "--json"]) == 0
    objs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["topic"] for o in objs] == ["verify_enumerator", "report_impostor", None]
    assert objs[2]["alternatives"] == [] and objs[2]["outcome"] == "handoff"


def test_ask_did_you_mean_reports_the_suggestion_as_topic(
        capsys: pytest.CaptureFixture[str]) -> None:
    """A vague word alone is not answered outright: the suggestion is the topic shown."""
    assert main(["faq", "ask", "普查员", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["outcome"] == "did_you_mean" and obj["topic"] == "two_staff"
    assert obj["topic"] not in obj["alternatives"] and obj["alternatives"]


def test_check_ok_and_problems(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["faq", "check"]) == 0
    assert "no problems" in capsys.readouterr().out
    bad = tmp_path / "faq"
    shutil.copytree(DEFAULT_CONTENT_DIR, bad)
    (bad / "broken.yaml").write_text(
        "entries:\n  - id: census_what\n    question: {zh: 重复}\n    answer: {zh: '<a>x</a>'}\n",
        encoding="utf-8")
    assert main(["faq", "check", "--content", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "duplicate id 'census_what'" in err
    assert "missing language 'en'" in err and "unsupported HTML" in err

"""`censusbot faq ask|check|candidates|report`: the FAQ from the command line (no aiogram)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

from bot.config import Settings
from bot.util.clock import utc_now


def _content_dir(args: argparse.Namespace) -> Path:
    """--content, else CENSUSBOT_FAQ_DIR, else the shipped content."""
    from faq.content import DEFAULT_CONTENT_DIR

    if args.content is not None:
        return Path(args.content)
    return Settings().faq_dir or DEFAULT_CONTENT_DIR


def _questions(args: argparse.Namespace, stdin: TextIO) -> list[str] | None:
    """TEXT, or every non-empty line of standard input when TEXT is absent."""
    if args.text:
        return [" ".join(args.text)]
    return [line.strip() for line in stdin if line.strip()]


def _ask(args: argparse.Namespace) -> int:
    """Answer TEXT or each line of stdin; one JSON object (or line) per question."""
    from faq.content import ContentError, load_content
    from faq.loader import build_index

    try:
        index = build_index(load_content(_content_dir(args)))
    except ContentError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    out = sys.stdout
    for text in _questions(args, sys.stdin) or []:
        r = index.search(text)
        shown = r.shown  # the answer, or the "did you mean" suggestion
        alternatives = [a for a in r.alternatives if a != shown]
        if args.json:
            obj: dict[str, Any] = {"topic": shown, "score": round(float(r.score), 4),
                                   "alternatives": alternatives, "outcome": r.outcome}
            out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        elif r.topic is not None:
            entry = index.by_id[r.topic]
            out.write(f"{r.topic} ({r.score:.2f}): {entry.question_in(args.lang)}\n")
        elif shown is not None:
            entry = index.by_id[shown]
            also = f"; or: {', '.join(alternatives)}" if alternatives else ""
            out.write(f"did you mean {shown} ({r.score:.2f}): "
                      f"{entry.question_in(args.lang)}{also}\n")
        else:
            out.write(f"no answer ({r.score:.2f}); ask a person\n")
        out.flush()
    return 0


def _check(args: argparse.Namespace) -> int:
    """Validate the content (and topic coverage with --topics); exit 1 on problems."""
    from faq.content import check_content, load_content

    path = _content_dir(args)
    problems = check_content(path, topics=args.topics)
    if problems:
        sys.stderr.write(f"{path}: {len(problems)} problem(s):\n")
        for p in problems:
            sys.stderr.write(f"  - {p}\n")
        return 1
    content = load_content(path)
    sys.stdout.write(f"{path}: {len(content.entries)} entries, {len(content.not_covered)} "
                     "not-covered questions, no problems found\n")
    return 0


async def _load_candidates(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Candidate entries from the database (marked exported unless --dry-run)."""
    from bot.cli.common import database
    from bot.services.faqdesk import log as faq_log

    async with database(Settings()) as sessionmaker, sessionmaker() as session:
        out = await faq_log.export_candidates(session, now=utc_now(),
                                              include_exported=args.all, mark=not args.dry_run)
        await session.commit()  # the command's unit of work (the export marks)
        return out


def _candidates(args: argparse.Namespace) -> int:
    """Write candidate entries marked by the desk as FAQ-format YAML."""
    import asyncio

    import yaml

    entries = asyncio.run(_load_candidates(args))
    header = ("# Candidate FAQ entries marked by the Q&A desk. Complete both languages,\n"
              "# choose a real id, then move them into faq/content/ and run `censusbot faq "
              "check`.\n")
    body = yaml.safe_dump({"entries": entries}, allow_unicode=True, sort_keys=False, width=100)
    if args.out:
        Path(args.out).write_text(header + body, encoding="utf-8")
        sys.stderr.write(f"{len(entries)} candidate(s) written to {args.out}\n")
    else:
        sys.stdout.write(header + body)
    return 0


async def _report(args: argparse.Namespace) -> int:
    """Print the weakest entries by feedback and the most frequent unanswered questions."""
    from bot.cli.common import database
    from bot.services.faqdesk import log as faq_log

    since = utc_now() - timedelta(days=args.days) if args.days else None
    async with database(Settings()) as sessionmaker, sessionmaker() as session:
        rep = await faq_log.report(session, since=since, limit=args.limit)
    if args.json:
        sys.stdout.write(json.dumps(rep.as_dict(), ensure_ascii=False, indent=2) + "\n")
        return 0
    w = sys.stdout.write
    w(f"questions: {rep.asked} (answered {rep.answered}, unsure {rep.unsure}, "
      f"no answer {rep.unknown}); sent to the desk: {rep.escalated} "
      f"(still open {rep.open_exchanges})\n")
    w("\nweakest entries (by 'not helpful' votes):\n")
    for t in rep.weakest:
        w(f"  {t.topic:24} not helpful {t.unhelpful:3}  helpful {t.helpful:3}  "
          f"({t.share_unhelpful:.0%})\n")
    if not rep.weakest:
        w("  (no 'not helpful' votes)\n")
    w("\nmost-asked gaps (unanswered / low-confidence questions, similar wordings grouped):\n")
    for q in rep.unanswered:
        hint = f" -> {q.best_topic}?" if q.best_topic else ""
        more = f" (+{q.variants - 1} similar: {' | '.join(q.examples)})" if q.examples else ""
        w(f"  {q.count:3}x [{q.outcome}] {q.text}{hint}{more}\n")
    if not rep.unanswered:
        w("  (none)\n")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `faq` with ask, check, candidates, report."""
    p = sub.add_parser("faq", help="the FAQ: ask, check content, candidates, report")
    faq_sub = p.add_subparsers(dest="faq_command", required=True, metavar="SUBCOMMAND")

    ask = faq_sub.add_parser("ask", help="answer TEXT, or each line of standard input")
    ask.add_argument("text", nargs="*", metavar="TEXT")
    ask.add_argument("--json", action="store_true", help="one JSON object per question")
    ask.add_argument("--content", type=Path, help="content directory (default: shipped FAQ)")
    ask.add_argument("--lang", choices=("zh", "en"), default="zh")
    ask.set_defaults(func=_ask)

    check = faq_sub.add_parser("check", help="validate the FAQ content")
    check.add_argument("--content", type=Path, help="content directory (default: shipped FAQ)")
    check.add_argument("--topics", type=Path, help="topics.yaml every topic of which must exist")
    check.set_defaults(func=_check)

    cand = faq_sub.add_parser("candidates", help="export desk-marked candidate entries as YAML")
    cand.add_argument("--out", type=Path, help="write to this file instead of standard output")
    cand.add_argument("--all", action="store_true", help="include candidates exported before")
    cand.add_argument("--dry-run", action="store_true", help="do not mark them as exported")
    cand.set_defaults(func=_candidates)

    rep = faq_sub.add_parser("report", help="weakest entries and unanswered questions")
    rep.add_argument("--days", type=int, default=0, help="only the last N days (0 = all)")
    rep.add_argument("--limit", type=int, default=10)
    rep.add_argument("--json", action="store_true")
    rep.set_defaults(func=_report)

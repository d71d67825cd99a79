"""Benchmark: importing a SYNTHETIC 40,000-row roster (CSV and XLSX) into SQLite and PostgreSQL.

Measures the bulk importer (bot.services.roster.importer.import_roster: preloaded unit codes and
staff ids, INSERT ... ON CONFLICT DO UPDATE in batches, one transaction) for a first import, a
re-import of the same file (all unchanged) and a re-import with 10% of rows edited, side by side
with a naive baseline (same parsing and validation, then one query for the unit and one ORM
`session.merge` per row, one commit) run on a smaller slice because it is slow.

    python bench/roster_import.py [--rows 40000] [--baseline-rows 4000] [--pg URL|--no-pg]

Every person in the generated files is invented (demo.roster.synthetic_roster).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.db.engine import create_engine, create_sessionmaker  # noqa: E402
from bot.db.models.org import Unit  # noqa: E402
from bot.db.models.staff import Staff  # noqa: E402
from bot.services.roster import org as org_service  # noqa: E402
from bot.services.roster.importer import clean_row, import_roster, parse_roster  # noqa: E402
from demo.roster import synthetic_roster, write_csv, write_xlsx  # noqa: E402
from migrations import runner as migrate  # noqa: E402

NOW = datetime(2018, 10, 8, 1, 0, tzinfo=UTC)
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/"


def find_shared() -> Path:
    """The shared/ directory beside the checkout (or two levels up from a worktree)."""
    for base in (ROOT.parent, ROOT.parent.parent, Path("/work")):
        if (base / "shared" / "data" / "zhengzhou.yaml").exists():
            return base / "shared"
    raise SystemExit("cannot find shared/data/zhengzhou.yaml")


class Scratch:
    """A fresh migrated database (SQLite file or PostgreSQL scratch database) with the org."""

    def __init__(self, backend: str, workdir: Path, pg_base: str, tree: dict[str, Any]):
        self.backend, self.workdir, self.pg_base, self.tree = backend, workdir, pg_base, tree
        self.name = f"censusbot_bench_{uuid.uuid4().hex[:10]}"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the scratch database."""
        if self.backend == "sqlite":
            return f"sqlite+aiosqlite:///{self.workdir / (self.name + '.sqlite3')}"
        return self.pg_base.rstrip("/") + "/" + self.name

    def _admin_dsn(self) -> str:
        return self.pg_base.replace("postgresql+asyncpg://", "postgresql://").rstrip("/") \
            + "/postgres"

    async def __aenter__(self) -> Scratch:
        if self.backend == "postgresql":
            conn = await asyncpg.connect(self._admin_dsn())
            try:
                await conn.execute(f'CREATE DATABASE "{self.name}"')
            finally:
                await conn.close()
        self.engine = create_engine(self.url)
        await migrate.upgrade(self.engine)
        self.sessionmaker = create_sessionmaker(self.engine)
        async with self.sessionmaker() as session:
            await org_service.load_tree(session, self.tree, now=NOW)
            await session.commit()  # the bench is the unit-of-work owner
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.engine.dispose()
        if self.backend == "postgresql":
            conn = await asyncpg.connect(self._admin_dsn())
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            finally:
                await conn.close()


async def naive_import(session: AsyncSession, data: bytes) -> int:
    """Baseline: same parsing/validation, then a unit query and session.merge per row."""
    parsed = parse_roster(data)
    done = 0
    for number, raw in parsed.rows:
        values, problems = clean_row(number, raw, headings=parsed.columns)
        if problems:
            continue
        unit = await session.scalar(select(Unit.code).where(Unit.code == values["unit_code"]))
        if unit is None:
            continue
        await session.merge(Staff(
            staff_id=values["staff_id"], name=values["name"], role=values["role"],
            unit_code=values["unit_code"], phone=values["phone"], org=values.get("org"),
            valid_to=values.get("valid_to"), status=values.get("status") or "active",
            created_at=NOW, updated_at=NOW))
        done += 1
    await session.commit()
    return done


CPU: list[float] = [0.0]  # process CPU seconds of the last timed() call


async def _import_and_commit(session: AsyncSession, data: bytes, **kwargs: Any) -> Any:
    """Import and commit (the service leaves the commit to its caller, as the CLI does)."""
    result = await import_roster(session, data, **kwargs)
    await session.commit()
    return result


async def timed(call: Awaitable[Any]) -> tuple[float, Any]:
    """(wall seconds, result) of one awaited call; its CPU seconds go to CPU[0]."""
    t0, c0 = time.perf_counter(), time.process_time()
    result = await call
    CPU[0] = time.process_time() - c0
    return time.perf_counter() - t0, result


def line(label: str, rows: int, seconds: float, note: str = "", cpu: float | None = None) -> None:
    """One result row: wall time, rows/s, this process's CPU time (the DB server's is not in it)."""
    cpu = CPU[0] if cpu is None else cpu
    print(f"  {label:<44} {rows:>7,} rows {seconds:>7.2f} s {rows / seconds:>9,.0f} rows/s"
          f"  cpu {cpu:>6.2f} s  {note}")


async def bench_backend(backend: str, files: dict[str, Path], base_files: dict[str, Path],
                        workdir: Path, pg_base: str, tree: dict[str, Any], rows: int,
                        base_rows: int) -> None:
    """First import, re-import and 10%-edited re-import per format, then the naive baseline."""
    print(f"\n{backend} (wall time includes the database server; cpu is this process only):")
    for fmt, path in files.items():
        data = path.read_bytes()
        edited = files[fmt].with_name(f"edited.{fmt}").read_bytes()
        async with Scratch(backend, workdir, pg_base, tree) as db:
            async with db.sessionmaker() as s:
                secs, res = await timed(_import_and_commit(s, data, now=NOW,
                                                           file_name=path.name))
            assert res.created == rows and res.rejected == 0, (res.created, res.rejected)
            line(f"bulk {fmt.upper()} first import", rows, secs, f"{res.created:,} created")
            async with db.sessionmaker() as s:
                secs, res = await timed(_import_and_commit(s, data, now=NOW))
            assert res.unchanged == rows
            line(f"bulk {fmt.upper()} re-import (same file)", rows, secs,
                 f"{res.unchanged:,} unchanged")
            async with db.sessionmaker() as s:
                secs, res = await timed(_import_and_commit(s, edited, now=NOW))
            line(f"bulk {fmt.upper()} re-import (10% edited)", rows, secs,
                 f"{res.updated:,} updated, {res.unchanged:,} unchanged")
    data = base_files["csv"].read_bytes()
    async with Scratch(backend, workdir, pg_base, tree) as db:
        async with db.sessionmaker() as s:
            secs, done = await timed(naive_import(s, data))
        line("BASELINE naive merge-per-row, first import", done, secs,
             f"(slice of {base_rows:,}; {rows:,} rows would take ~{secs * rows / done:,.0f} s)")
        async with db.sessionmaker() as s:
            secs, done = await timed(naive_import(s, data))
        line("BASELINE naive merge-per-row, re-import", done, secs,
             f"(~{secs * rows / done:,.0f} s for {rows:,})")


async def amain(args: argparse.Namespace) -> None:
    """Generate the files and run every measurement."""
    tree = yaml.safe_load((find_shared() / "data" / "zhengzhou.yaml").read_text("utf-8"))
    units = [tree, *tree.get("children", [])]
    people = synthetic_roster(units, per_unit=math.ceil(args.rows / len(units)), seed=2018)
    people = people[:args.rows]
    edited_people = [dict(p) for p in people]
    for i, p in enumerate(edited_people):
        if i % 10 == 0:
            p["status"] = "revoked" if i % 20 == 0 else "suspended"
    with tempfile.TemporaryDirectory(prefix="roster_bench_") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        files = {"csv": write_csv(people, work / "roster.csv"),
                 "xlsx": write_xlsx(people, work / "roster.xlsx")}
        write_csv(edited_people, work / "edited.csv")
        write_xlsx(edited_people, work / "edited.xlsx")
        base = {"csv": write_csv(people[:args.baseline_rows], work / "baseline.csv")}
        print(f"SYNTHETIC roster: {len(people):,} invented people in {len(units)} Zhengzhou "
              f"units; files written in {time.perf_counter() - t0:.1f} s "
              f"(CSV {files['csv'].stat().st_size / 2**20:.1f} MB, "
              f"XLSX {files['xlsx'].stat().st_size / 2**20:.1f} MB)")
        print("parse + validate only (no database):")
        for fmt, path in files.items():
            data = path.read_bytes()
            t1, c1 = time.perf_counter(), time.process_time()
            parsed = parse_roster(data)
            t2, c2 = time.perf_counter(), time.process_time()
            for number, raw in parsed.rows:
                clean_row(number, raw, headings=parsed.columns)
            t3, c3 = time.perf_counter(), time.process_time()
            line(f"read {fmt.upper()}", len(parsed.rows), t2 - t1, cpu=c2 - c1)
            line(f"validate {fmt.upper()} rows", len(parsed.rows), t3 - t2, cpu=c3 - c2)
        backends = ["sqlite"] + ([] if args.no_pg else ["postgresql"])
        for backend in backends:
            await bench_backend(backend, files, base, work, args.pg, tree, len(people),
                                args.baseline_rows)


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--baseline-rows", type=int, default=4_000)
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server URL (no database)")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    asyncio.run(amain(parser.parse_args()))


if __name__ == "__main__":
    main()

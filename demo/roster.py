"""SYNTHETIC demo rosters: invented names, IDs and phone numbers in the 170/171 virtual ranges.

Nothing here describes a real person. Files written by `write_csv` / `write_xlsx` say so in their
first row.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

SYNTHETIC_NOTE = "# SYNTHETIC demo roster: invented people, not real staff records"
HEADER = ("staff_id", "name", "role", "unit_code", "phone", "org", "valid_to", "status")
SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁"
            "谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程")
GIVEN = ("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"
         "华玉萍红娥玲芬燕彬鹏辉建国志新宇浩然欣怡子涵晨阳")
FIRMS = ("环科检测有限公司", "绿源环保科技有限公司", "中原环境咨询有限公司")


def _code(unit: str | Mapping[str, Any]) -> str:
    return str(unit["code"]) if isinstance(unit, Mapping) else str(unit)


def synthetic_roster(
    units: Iterable[str | Mapping[str, Any]],
    *,
    per_unit: int = 20,
    seed: int = 0,
    prefix: str = "ZZ",
    valid_to: str = "2019-12-31",
) -> list[dict[str, str]]:
    """A SYNTHETIC roster: `per_unit` people per unit (codes or {code: ...} mappings).

    Each unit gets one office head and one liaison, about one supervisor in six, and
    enumerators; a few third-party staff carry a firm in `org`; a few are suspended. IDs look like
    `ZZ-410102-0001`; phones are unique numbers in the 170/171 virtual-operator ranges.
    """
    rng = random.Random(seed)
    codes = [_code(u) for u in units]
    total = len(codes) * per_unit
    if total > 2 * 10**8 or per_unit > 9999:
        raise ValueError("too many people for the synthetic number space")
    phones = rng.sample(range(2 * 10**8), total)
    rows: list[dict[str, str]] = []
    for u, code in enumerate(codes):
        for i in range(per_unit):
            if i == 0:
                role = "office_head"
            elif i == 1:
                role = "liaison"
            elif i % 6 == 2:
                role = "supervisor"
            else:
                role = "enumerator"
            n = phones[u * per_unit + i]
            phone = f"17{n // 10**8}{n % 10**8:08d}"  # 170xxxxxxxx or 171xxxxxxxx
            third_party = role == "enumerator" and rng.random() < 0.1
            rows.append({
                "staff_id": f"{prefix}-{code}-{i + 1:04d}",
                "name": rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2)))),
                "role": role,
                "unit_code": code,
                "phone": phone,
                "org": rng.choice(FIRMS) if third_party else "",
                "valid_to": valid_to,
                "status": "suspended" if rng.random() < 0.01 else "active",
            })
    return rows


def write_csv(rows: Sequence[Mapping[str, Any]], path: Path, *, encoding: str = "utf-8") -> Path:
    """Write a roster CSV whose first line is a comment saying it is synthetic."""
    with path.open("w", encoding=encoding, newline="") as fh:
        fh.write(SYNTHETIC_NOTE + "\n")
        writer = csv.DictWriter(fh, fieldnames=HEADER, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_xlsx(rows: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Write a roster workbook whose first row says it is synthetic."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("roster")
    ws.append([SYNTHETIC_NOTE])
    ws.append(list(HEADER))
    for row in rows:
        ws.append([row.get(c, "") for c in HEADER])
    wb.save(path)
    return path

"""Demo personas: who a visitor of the web chat can be. All people here are synthetic."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Persona:
    """A synthetic demo user, with the role grant (if any) it gets on a unit."""

    key: str
    label: str
    user_id: int
    first_name: str
    language_code: str
    phone: str
    role: str | None = None
    unit_code: str | None = None
    staff_id: str | None = None  # roster row that this persona can bind to (enumerator)

    def as_webchat(self) -> dict[str, object]:
        """The persona as the web chat page expects it."""
        return {
            "key": self.key,
            "label": self.label,
            "user": {"id": self.user_id, "first_name": self.first_name,
                     "language_code": self.language_code},
            "phone": self.phone,
        }


# Zhengzhou: 410100 is the city, 410105 金水区 a county-level unit.
PERSONAS: tuple[Persona, ...] = (
    Persona("public", "公众 / Member of the public", 900001, "市民王先生", "zh-hans",
            "+8617000000001"),
    Persona("enumerator", "普查员 / Enumerator (金水区)", 900002, "张建华", "zh-hans",
            "+8617000000002", staff_id="ZZ-410105-9001"),
    Persona("liaison", "县级联络员 / County liaison (金水区)", 900003, "刘敏", "zh-hans",
            "+8617000000003", role="liaison", unit_code="410105"),
    Persona("county_head", "县普查办主任 / County office head (金水区)", 900004, "陈伟",
            "zh-hans", "+8617000000004", role="office_head", unit_code="410105"),
    Persona("city_head", "市普查办主任 / City office head", 900006, "周丽", "zh-hans",
            "+8617000000006", role="office_head", unit_code="410100"),
    Persona("leader", "市领导 / City leader", 900005, "Leader Li", "en",
            "+8617000000005", role="leader", unit_code="410100"),
    Persona("qa_desk", "答疑专家 / Q&A desk", 900007, "孙老师", "zh-hans",
            "+8617000000007", role="qa_desk", unit_code="410100"),
)

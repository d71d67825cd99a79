"""The demo's web chat in a real browser (Debian chromium, headless): /start and /help."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from demo.runner import Demo

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HAVE_CHROMIUM = Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()

pytestmark = pytest.mark.browser


def _texts(driver: Any) -> list[str]:
    """The bot's messages as shown (read in one go: the page re-renders as messages come)."""
    return list(driver.execute_script(
        "return [...document.querySelectorAll('.msg.bot')].map(e => e.innerText)"))


def _drive(url: str, screenshot: Path) -> list[str]:
    """Pick the liaison persona, see the demo order, send /start and /help; return the bot's
    message texts."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=900,1000",
                f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(url)
        wait = WebDriverWait(driver, 20)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#persona option"))
        assert "Demo data is synthetic" in driver.page_source
        # an empty chat (the member of the public has none yet) says what to do at once,
        # without waiting for a long poll
        Select(driver.find_element(By.ID, "persona")).select_by_value("public")
        WebDriverWait(driver, 5).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".empty-hint"))
        assert "/start" in driver.find_element(By.CSS_SELECTOR, ".empty-hint").text
        assert driver.find_element(By.ID, "status").text == "online"
        Select(driver.find_element(By.ID, "persona")).select_by_value("liaison")
        # the demo's synthetic supervision order reaches the liaison by itself (督办)
        for command, expected in ((None, "郑普办督"), ("/start", "您好"),
                                  ("/help", "您可以使用的功能")):
            if command:
                driver.find_element(By.ID, "input").send_keys(command)
                driver.find_element(By.ID, "send").click()
            wait.until(lambda d, x=expected: any(x in t for t in _texts(d)))
        driver.save_screenshot(str(screenshot))
        # clock times are Beijing time whatever the browser's zone (HH:MM)
        metas = list(driver.execute_script(
            "return [...document.querySelectorAll('.msg .meta')].map(e => e.innerText)"))
        assert metas and all(len(m) == 5 and m[2] == ":" for m in metas), metas
        return _texts(driver)
    finally:
        driver.quit()


async def test_start_and_help_in_the_browser(tmp_path: Path) -> None:
    if not HAVE_CHROMIUM:
        pytest.fail("chromium is not installed: run scripts/test.sh, which installs it")
    demo = Demo(port=0, database_url=f"sqlite+aiosqlite:///{tmp_path / 'demo.sqlite3'}")
    url = await demo.start()
    try:
        texts = await asyncio.to_thread(_drive, url, tmp_path / "chat.png")
    finally:
        await demo.stop()
    # The demo's scheduler runs on the real clock: at some hours of the day a deadline reminder
    # (⏰) or, after the 18:00 deadline, an overdue notice (❗) reaches the liaison in between.
    # Everything else is the order and the two replies, each exactly once and in this order.
    texts = [t for t in texts if not t.startswith(("⏰", "❗"))]
    assert len(texts) == 3 and "郑普办督〔" in texts[0] and "演示数据（合成）" in texts[0]
    assert texts[1].startswith("刘敏，您好") and "污染源普查" in texts[1]
    assert "您可以使用的功能" in texts[2] and "/lang" in texts[2]
    assert (tmp_path / "chat.png").stat().st_size > 10_000

"""A headless Chromium driven through Selenium, which reaches nothing but local pages.

The browser is Debian's ``chromium`` with its ``chromedriver`` (``make setup`` installs both
where they are missing); ``SLMGRAPH_CHROMIUM`` and ``SLMGRAPH_CHROMEDRIVER`` name other
binaries. Selenium Manager is never asked to download a driver (this machine, like many
servers, cannot reach a download host): a missing binary is one clear error.

Network: every host is blocked three ways, because one alone leaks — the host resolver maps
every name to nothing, every request goes to a proxy that does not exist (``127.0.0.1:9``, so
IP literals fail too), and the DevTools protocol blocks ``http``/``https``/``ws`` URLs. Task
pages are ``file://`` and need none of it.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from slmgraph.errors import RunError

logger = logging.getLogger(__name__)

BLOCKED_URLS = ["http://*", "https://*", "ws://*", "wss://*", "ftp://*"]


def _binary(env: str, names: tuple[str, ...], package: str) -> str:
    path = os.environ.get(env)
    if path:
        if not Path(path).is_file():
            raise RunError(f"${env} names {path!r}, which is not a file")
        return path
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise RunError(
        f"{names[0]} is not installed: run `make setup` (as root it installs Debian's "
        f"{package}) or `apt-get install {package}`, or set ${env} to its path"
    )


def chromium_path() -> str:
    return _binary("SLMGRAPH_CHROMIUM", ("chromium", "chromium-browser", "google-chrome"),
                   "chromium")  # fmt: skip


def chromedriver_path() -> str:
    return _binary("SLMGRAPH_CHROMEDRIVER", ("chromedriver",), "chromium-driver")


def available() -> str | None:
    """None when the browser and its driver are installed, else why not."""
    try:
        chromium_path()
        chromedriver_path()
    except RunError as exc:
        return str(exc)
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install 'slmgraph[operator]'"
    return None


def launch(width: int = 500, height: int = 400, timeout_s: float = 20.0) -> Any:
    """A headless Chromium (a ``selenium.webdriver.Chrome``) that reaches only local files."""
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise RunError("selenium is not installed: pip install 'slmgraph[operator]'") from None
    options = webdriver.ChromeOptions()
    options.binary_location = chromium_path()
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in a container: Chromium's own sandbox cannot start
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-sync",
        "--no-first-run",
        "--mute-audio",
        f"--window-size={width},{height}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=http://127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>",  # loopback goes through the dead proxy as well
    ):
        options.add_argument(arg)
    service = Service(executable_path=chromedriver_path(), log_output=os.devnull)
    try:
        driver = webdriver.Chrome(service=service, options=options)
    except WebDriverException as exc:
        first = str(exc.msg or exc).strip().splitlines()[0] if str(exc.msg or exc) else ""
        raise RunError(f"Chromium did not start: {first}") from None
    driver.set_page_load_timeout(timeout_s)
    driver.set_script_timeout(timeout_s)
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": BLOCKED_URLS})
    except WebDriverException as exc:  # the other two blocks still hold
        logger.warning("could not block URLs through DevTools: %s", exc)
    return driver


def quit_quietly(driver: Any) -> None:
    try:
        driver.quit()
    except Exception as exc:  # a browser that already died is closed
        logger.debug("closing Chromium: %s", exc)


__all__ = ["available", "chromedriver_path", "chromium_path", "launch", "quit_quietly"]

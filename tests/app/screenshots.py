"""Take the screenshots in docs/img of a published workspace: ``python tests/app/screenshots.py W``
(the workspace needs a supervisor ``sam`` whose password is in RISKSTRAT_APP_PASSWORD)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from browser import browser, login

from riskstrat.app.server import serving
from riskstrat.config import load_settings


def main(workspace: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with serving(workspace, load_settings(workspace)) as base, browser() as chromium:
        page = chromium.new_page(viewport={"width": 1400, "height": 800})
        login(page, base, "sam", os.environ["RISKSTRAT_APP_PASSWORD"])
        page.screenshot(path=str(out / "app-list.png"))  # the first screenful: a list runs to hundreds of rows
        page.locator("table.worklist tbody a").first.click()
        page.wait_for_selector("#outreach")
        page.screenshot(path=str(out / "app-member.png"), full_page=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else Path("docs/img"))

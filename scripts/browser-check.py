#!/usr/bin/env python3
"""Opens an HTML page in a real headless Chromium (Debian's chromium and chromium-driver,
driven by selenium) and prints, as one JSON object, what a person opening it would meet:
the console messages, every request the page made, each chart's data points by series, and
the page's size; a screenshot of the whole page is saved for a person to look at.

Usage: browser-check.py PAGE.html SCREENSHOT.png
It never lets selenium fetch a browser or a driver: both are the system's, or it fails.
"""
import json
import pathlib
import sys
import tempfile

import headless_chromium
from selenium.webdriver.common.by import By


def main(page: str, screenshot: str) -> None:
    url = pathlib.Path(page).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="rulekit-chromium-") as profile:
        driver = headless_chromium.start(profile)
        try:
            # The start-up tab's own requests are not the page's: drop them first.
            driver.get("about:blank")
            driver.get_log("performance")
            driver.get(url)
            charts = []
            for svg in driver.find_elements(By.CSS_SELECTOR, "svg.chart"):
                series = {}
                for point in svg.find_elements(By.CSS_SELECTOR, ".point"):
                    name = point.get_attribute("data-series") or ""
                    series.setdefault(name, []).append(float(point.get_attribute("data-value")))
                size = svg.size
                charts.append({"chart": svg.get_attribute("data-chart"),
                               "width": size["width"], "height": size["height"],
                               "series": series})
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(1280, min(int(height) + 40, 16000))
            driver.save_screenshot(screenshot)
            requests, console = headless_chromium.seen(driver)
            print(json.dumps({"title": driver.title, "url": url, "charts": charts,
                              "requests": requests, "console": console,
                              "height": height}))
        finally:
            driver.quit()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])

"""The one way the browser checks start Chromium: Debian's chromium and chromium-driver, never
a browser or driver selenium would fetch, headless, with a fresh profile, logging the console
and the network for the checks to read."""
import json
import pathlib
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def start(profile: str) -> webdriver.Chrome:
    """A driven Chromium whose profile is the (empty) directory `profile`."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not pathlib.Path(path).exists():
            sys.exit(f"{path} is missing: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1280,900",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def seen(driver: webdriver.Chrome) -> tuple[list, list]:
    """What the browser did since the logs were last read: the URL of every request it sent,
    and every console message (level, source, text)."""
    requests = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            requests.append(message["params"]["request"]["url"])
    console = [{"level": e["level"], "source": e.get("source"), "message": e["message"]}
               for e in driver.get_log("browser")]
    return requests, console

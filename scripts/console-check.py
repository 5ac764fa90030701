#!/usr/bin/env python3
"""Works through the operators' console in a real headless Chromium (Debian's chromium and
chromium-driver, driven by selenium) as an operator would, against a running
`rulekit serve --dev-auth`, and prints, as one JSON object, what it met: every request the
browser made, the console messages, and the checks passed. Screenshots of each page go to
SCREENSHOTS. A check that fails exits 1 and says which.

Usage: console-check.py BASE_URL SCREENSHOTS DATE
  BASE_URL     the server, e.g. http://127.0.0.1:8080
  DATE         the date to preview, on which customer c1 is 14 days past due

The flow: sign in as t1's admin; New Automation (the Customer source, "With past due
balance" at 14 and 30 days, Add Action, notify finance, Save); see it listed; preview DATE and
see c1's firing; edit it in two windows, the second getting a conflict; approve the firing
that waits for an admin (the caller seeds an automation whose step asks one, and waits for
the server's daily run to record it); read the changes and the approval in the audit log; read last week's review and today's
aging table (c1's 50.00); preview normalization rules in Settings and save them;
start from the dunning playbook, refused once as not JSON, saved, its retry moved a day in the
document, and made live; release the firings the guardrail held for t2 and discard t3's
(50 customers each, all due at once); sign in as a viewer and find no control that writes; the list at a phone's
width, with nothing wider than the screen. It never lets selenium fetch a browser or a
driver: both are the system's, or it fails.
"""
import json
import pathlib
import sys
import tempfile

import headless_chromium
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait


class Failed(Exception):
    pass


def check(condition, what):
    if not condition:
        raise Failed(what)


def main(base: str, screenshots: str, date: str) -> None:
    shots = pathlib.Path(screenshots)
    shots.mkdir(parents=True, exist_ok=True)
    passed = []
    with tempfile.TemporaryDirectory(prefix="rulekit-console-") as profile:
        driver = headless_chromium.start(profile)
        wait = WebDriverWait(driver, 10)

        def shot(name):
            driver.save_screenshot(str(shots / f"{name}.png"))

        def find(css):
            return wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))

        def text_appears(css, text):
            wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))

        def labelled(label):
            """The control a visible label names: how a person finds it."""
            element = wait.until(EC.presence_of_element_located(
                (By.XPATH, f"//label[normalize-space()='{label}']")))
            return driver.find_element(By.ID, element.get_attribute("for"))

        def button(name):
            return wait.until(EC.element_to_be_clickable(
                (By.XPATH, f"//button[normalize-space()='{name}'] | //a[normalize-space()='{name}']")))

        def sign_in(role, tenant_id="t1"):
            driver.get(f"{base}/console/#/sign-in")
            tenant = labelled("Tenant")
            tenant.clear()
            tenant.send_keys(tenant_id)
            Select(labelled("Role")).select_by_value(role)
            button("Sign in").click()
            text_appears("h1", "Automation Management")

        def unlabelled():
            return driver.execute_script(
                "return [...document.querySelectorAll('input, select')]"
                ".filter(e => !e.labels?.length && !e.getAttribute('aria-label'))"
                ".map(e => e.name || e.outerHTML)")

        requests = []
        console = []
        try:
            # The start-up tab's own requests are not the console's: drop them first.
            driver.get("about:blank")
            driver.get_log("performance")

            sign_in("admin")
            passed.append("signed in as an admin")

            button("New Automation").click()
            text_appears("h1", "New Automation")
            find("#tab-customer").click()
            # The tabs are drawn again on a click: find the tab again.
            check(find("#tab-customer").get_attribute("aria-selected") == "true",
                  "the Customer tab is chosen")
            text_appears("form", "With past due balance")
            check(labelled("Days").get_attribute("value") == "14, 30", "14 and 30 days by default")
            subscription = labelled("Only customers with an active subscription")
            if subscription.is_selected():
                subscription.click()
            button("Add Action").click()
            Select(find("select[name=action]")).select_by_value("notify")
            labelled("Name").send_keys("Past due 14/30")
            check(unlabelled() == [], f"every control has a label: {unlabelled()}")
            shot("new-automation")
            button("Save").click()
            text_appears("h1", "Past due 14/30")
            text_appears(".tag", "version 1")
            passed.append("created through New Automation")

            driver.get(f"{base}/console/#/automations")
            text_appears("table", "Past due 14/30")
            text_appears("table", "With past due balance (14, 30 days)")
            shot("automations")
            passed.append("listed")

            driver.find_element(By.LINK_TEXT, "Past due 14/30").click()
            date_input = labelled("Date")
            driver.execute_script("arguments[0].value = arguments[1]", date_input, date)
            button("Preview").click()
            text_appears("table", f"Decisions on {date}")
            rows = driver.find_elements(By.CSS_SELECTOR, "tr.fired")
            check([r.find_element(By.CSS_SELECTOR, "td").text for r in rows] == ["c1"],
                  f"c1 fires on {date}: {[r.text for r in rows]}")
            shot("preview")
            passed.append("previewed a firing")

            # Two windows on version 1: the first saves, the second is told, and overwrites nothing.
            first = driver.current_window_handle
            driver.switch_to.new_window("tab")
            driver.get(f"{base}/console/#/automations/past-due-14-30")
            text_appears(".tag", "version 1")
            second = driver.current_window_handle
            driver.switch_to.window(first)
            name = labelled("Name")
            name.clear()
            name.send_keys("Past due, first window")
            button("Save changes").click()
            text_appears(".tag", "version 2")
            driver.switch_to.window(second)
            name = labelled("Name")
            name.clear()
            name.send_keys("Past due, second window")
            button("Save changes").click()
            text_appears(".conflict", "Not saved")
            shot("conflict")
            button("Reload the current version").click()
            text_appears("h1", "Past due, first window")
            passed.append("a stale edit got a conflict and overwrote nothing")
            driver.close()
            driver.switch_to.window(first)

            # The escalation the daily run recorded today waits for an admin.
            driver.get(f"{base}/console/#/firings?status=awaiting_approval")
            text_appears("table", "escalate")
            shot("awaiting-approval")
            button("Approve").click()
            text_appears("#status", "Firing approved.")
            text_appears("tbody", "None.")
            passed.append("approved a firing")

            driver.get(f"{base}/console/#/audit")
            text_appears("table", "firing.approved")
            actions = [td.text for td in driver.find_elements(By.CSS_SELECTOR, "tbody td:nth-child(3)")]
            expected = ["firing.approved", "automation.replaced", "automation.created",
                        "automation.created"]
            check(actions == expected, f"the audit log: {actions}")
            shot("audit")
            passed.append("read the audit entries")

            # Settings: normalization rules previewed over the stored customers (c1's
            # "Plan Name" becomes "plan"), then saved under If-Match.
            driver.get(f"{base}/console/#/settings")
            text_appears("h1", "Settings")
            text_appears(".tag", "version 0")
            check(labelled("Time zone").get_attribute("value") == "UTC", "the default zone")
            rules = labelled("The rules (JSON)")
            driver.execute_script("arguments[0].value = arguments[1]", rules, json.dumps([
                {"type": "key_case", "case": "snake_case"},
                {"type": "rename_key", "from": ["plan_name"], "to": "plan"}]))
            button("Preview the rules").click()
            text_appears(".summary", "1 of 1 profiles would change")
            text_appears("table", 'c1: plan_name → plan "Gold" → "Gold"')
            driver.execute_script("document.querySelector('.summary').scrollIntoView()")
            shot("settings-preview")
            button("Save settings").click()
            text_appears("#status", "Saved settings version 1.")
            text_appears(".tag", "version 1")
            passed.append("previewed normalization rules and saved the settings")

            # The reports: last week's review and today's aging table, the API's own pages,
            # in a frame that runs nothing.
            driver.get(f"{base}/console/#/reports/weekly")
            text_appears("h1", "Weekly review")
            frame = find("iframe.report")
            check(frame.get_attribute("sandbox") == "", "the report's frame may run nothing")
            driver.switch_to.frame(frame)
            text_appears("h1", "Weekly review")
            driver.switch_to.default_content()
            shot("weekly-review")
            driver.find_element(By.LINK_TEXT, "Aging").click()
            text_appears("h1", "Aging")
            driver.switch_to.frame(find("iframe.report"))
            text_appears("body", "50.00")
            aging = driver.find_element(By.TAG_NAME, "body").text
            driver.switch_to.default_content()
            shot("aging")
            passed.append("read the weekly review and the aging table")

            # A playbook of SPEC §8 as the start: the dunning segments, offered in dry run. A
            # document that is not JSON is refused with the reason; mended, it saves.
            driver.get(f"{base}/console/#/automations/new")
            text_appears("h1", "New Automation")
            start = Select(labelled("Start from"))
            wait.until(lambda _: len(start.options) == 4)
            start.select_by_value("dunning")
            text_appears("form", "Day 4 retry-2: retry the payment")
            check(not driver.find_element(By.NAME, "days").is_displayed(),
                  "the seed's form is put away for a playbook")
            document = labelled("The automation (JSON)")
            driver.execute_script("arguments[0].value += ' x'", document)
            button("Save").click()
            text_appears(".problem", "the document is not JSON")
            driver.execute_script("arguments[0].value = arguments[0].value.slice(0, -2)", document)
            shot("playbook")
            button("Save").click()
            text_appears("h1", "Dunning: retries by decline, amount and tenure")
            text_appears(".facts", "dry_run")
            text_appears(".facts", "strategic")
            # Its steps are edited as the document: retry-2 moves from day 4 to day 5.
            driver.find_element(By.XPATH, "//summary[normalize-space()='Edit the whole document (JSON)']").click()
            document = labelled("The automation (JSON)")
            driver.execute_script(
                "arguments[0].value = JSON.stringify(Object.assign(JSON.parse(arguments[0].value), "
                "{segments: JSON.parse(arguments[0].value).segments.map(s => ({...s, steps: s.steps.map("
                "st => st.name === 'retry-2' ? {...st, day: 5} : st)}))}), null, 2)", document)
            button("Save the document").click()
            text_appears(".tag", "version 2")
            text_appears(".facts", "Day 5 retry-2: retry the payment")
            shot("playbook-saved")
            # Reviewed in dry run, it is made live.
            Select(labelled("Mode")).select_by_value("live")
            button("Save changes").click()
            text_appears(".tag", "version 3")
            text_appears(".facts", "live")
            passed.append("started from the dunning playbook, edited its steps, made it live")

            # The guardrail held the runs of t2 and t3 (50 customers each, all due at once):
            # t2's firings are released, t3's discarded after a second question.
            sign_in("admin", "t2")
            driver.get(f"{base}/console/#/firings?date={date}")
            text_appears(".held", f"Held by the guardrail on {date}")
            row = find(".held tbody tr").text
            check("everyone" in row and "50" in row, f"50 firings of everyone held: {row}")
            shot("held")
            button("Release").click()
            text_appears("#status", "Released 50 firings of everyone.")
            wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, ".held"))
            Select(labelled("Status")).select_by_value("pending")
            button("Show").click()
            text_appears("caption", f"Firings on {date}, pending")
            pending = driver.find_elements(By.XPATH, "//tbody/tr[td[5][normalize-space()='pending']]")
            check(len(pending) == 50, f"the 50 released are pending: {len(pending)}")
            passed.append("released the firings the guardrail held")

            sign_in("admin", "t3")
            driver.get(f"{base}/console/#/firings?date={date}")
            button("Discard").click()
            text_appears(".held", "Discard 50 firings? They will never be carried out.")
            shot("discard")
            button("Yes, discard them").click()
            text_appears("#status", "Discarded 50 firings of everyone.")
            wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, ".held"))
            passed.append("discarded held firings, asked once more")

            sign_in("viewer")
            check(not driver.find_elements(By.XPATH, "//a[normalize-space()='New Automation']"),
                  "a viewer has no New Automation")
            driver.find_element(By.LINK_TEXT, "Past due, first window").click()
            text_appears("h1", "Past due, first window")
            writes = driver.find_elements(
                By.XPATH, "//button[normalize-space()='Save changes' or normalize-space()='Save'"
                " or normalize-space()='Approve' or normalize-space()='Reject'"
                " or normalize-space()='Save the document' or normalize-space()='Release'"
                " or normalize-space()='Discard' or normalize-space()='Save settings']")
            check(writes == [], "a viewer sees no control that writes")
            shot("viewer")
            passed.append("a viewer sees no write controls")

            driver.set_window_size(390, 844)
            driver.get(f"{base}/console/#/automations")
            text_appears("table", "Past due, first window")
            overflow = driver.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth")
            check(overflow <= 0, f"nothing wider than a phone's screen ({overflow}px over)")
            shot("phone")
            passed.append("usable at a phone's width")

            requests, console = headless_chromium.seen(driver)
        except Failed as failure:
            shot("failed")
            sys.exit(f"the console check failed: {failure} (after: {', '.join(passed)})")
        except Exception as error:
            shot("failed")
            sys.exit(f"the console check stopped: {error!r} (after: {', '.join(passed)})")
        finally:
            driver.quit()
    print(json.dumps({"passed": passed, "requests": requests, "console": console}))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3])

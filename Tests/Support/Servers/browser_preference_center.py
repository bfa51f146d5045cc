"""Drives headless Chromium through the preference center, from the links of a real email.

Called by BrowserTests.swift with the path of a campaign email (.eml), the outbox folder
(for the double opt-in email) and a folder for screenshots. Prints one JSON object with
what it saw; the Swift test asserts the database.

Steps, as a person would take them:
1. open the email's preference link (English), at 1280 px and at 375 px (mobile);
2. untick one topic with the mouse, tick another with the keyboard, switch to French, save;
3. open the email's unsubscribe link (now French), press the button;
4. post RFC 8058's one-click body to the List-Unsubscribe URL of a second email, as a
   mailbox provider does (no browser involved: providers do not run one);
5. sign up on /subscribe (English), open the link of the confirmation email, confirm.
"""

import email
import email.policy
import glob
import json
import os
import re
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

message_path, second_path, outbox, shots, base = sys.argv[1:6]
result = {"steps": []}


def parse(path):
    with open(path, "rb") as handle:
        return email.message_from_bytes(handle.read(), policy=email.policy.default)


def links(message):
    html = message.get_body(("html",)).get_content()
    return re.findall(r'href="([^"]+)"', html)


def viewport(driver, width, mobile):
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": mobile},
    )


def snapshot(driver, name, width, mobile):
    viewport(driver, width, mobile)
    time.sleep(0.2)
    path = os.path.join(shots, name)
    driver.save_screenshot(path)
    result.setdefault("widths", {})[name] = driver.execute_script("return document.documentElement.scrollWidth")


def submit(driver, act):
    """Submits a form (by `act`) and waits until the next page has replaced this one and loaded."""
    old = driver.find_element(By.TAG_NAME, "html")
    try:
        act()
    except WebDriverException:
        # The click or key press went through, but the page it was sent to was already being
        # replaced when chromedriver looked at it again; the wait below tells.
        pass
    def replaced(_):
        # Stale, or (while the next page is being built) not in any document Chromium knows.
        try:
            old.is_enabled()
            return False
        except WebDriverException:
            return True

    WebDriverWait(driver, 15).until(replaced)
    WebDriverWait(driver, 15).until(lambda d: d.execute_script("return document.readyState") == "complete")


def text(driver, by, selector):
    """The text of an element of the current page, asked again while the page is still settling."""
    for _ in range(50):
        try:
            return driver.find_element(by, selector).text
        except WebDriverException:
            time.sleep(0.1)
    return driver.find_element(by, selector).text


def new_emails(before):
    """The .eml files written since `before`, waiting for the first (sent after the page answers)."""
    for _ in range(100):
        new = sorted(set(glob.glob(os.path.join(outbox, "*.eml"))) - before)
        if new:
            return new
        time.sleep(0.1)
    raise RuntimeError("no confirmation email arrived")


campaign = parse(message_path)
hrefs = links(campaign)
preferences = next(h for h in hrefs if "/p/" in h)
unsubscribe = next(h for h in hrefs if "/u/" in h)

options = webdriver.ChromeOptions()
for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--lang=en-US"):
    options.add_argument(argument)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
try:
    # 1. The preference page, in English, on a desktop and on a phone.
    driver.get(preferences)
    result["title_en"] = text(driver, By.TAG_NAME, "h1")
    snapshot(driver, "preferences-en-1280.png", 1280, False)
    snapshot(driver, "preferences-en-375.png", 375, True)

    # 2. Untick "offers" by clicking its label (labels are tied to their inputs), tick "events"
    #    from the keyboard, choose French, save with the Enter key.
    driver.find_element(By.CSS_SELECTOR, 'label[for="topic-offers"]').click()
    events = driver.find_element(By.ID, "topic-events")
    events.send_keys(Keys.SPACE)
    result["events_ticked"] = events.is_selected()
    result["offers_ticked"] = driver.find_element(By.ID, "topic-offers").is_selected()
    Select(driver.find_element(By.ID, "locale")).select_by_value("fr")
    submit(driver, lambda: driver.find_element(By.CSS_SELECTOR, 'form button[type="submit"]').send_keys(Keys.ENTER))
    result["saved_notice"] = text(driver, By.CSS_SELECTOR, '[role="status"]')
    result["lang_after_save"] = driver.find_element(By.TAG_NAME, "html").get_attribute("lang")
    snapshot(driver, "preferences-fr-375.png", 375, True)
    snapshot(driver, "preferences-fr-1280.png", 1280, False)
    result["cookies"] = driver.get_cookies()

    # 3. The unsubscribe link of the same email: asks in French, then confirms.
    driver.get(unsubscribe)
    result["unsubscribe_question"] = text(driver, By.CSS_SELECTOR, "form p")
    snapshot(driver, "unsubscribe-fr-375.png", 375, True)
    submit(driver, lambda: driver.find_element(By.CSS_SELECTOR, 'form button[type="submit"]').click())
    result["unsubscribe_done"] = text(driver, By.CSS_SELECTOR, '[role="status"]')
    result["preferences_link"] = driver.find_element(By.LINK_TEXT, "Gérer toutes vos préférences").get_attribute("href")

    # 4. One-click, as Gmail or Yahoo send it: the header's URL, the RFC 8058 body, no cookies.
    second = parse(second_path)
    one_click = re.search(r"<(https?://[^>]+)>", second["List-Unsubscribe"]).group(1)
    result["list_unsubscribe_post"] = second["List-Unsubscribe-Post"]

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    request = urllib.request.Request(
        one_click,
        data=b"List-Unsubscribe=One-Click",
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.build_opener(NoRedirect).open(request) as response:
        result["one_click"] = {
            "status": response.status,
            "set_cookie": response.headers.get("Set-Cookie"),
            "location": response.headers.get("Location"),
        }

    # 5. Sign up in English, confirm from the emailed link.
    before = set(glob.glob(os.path.join(outbox, "*.eml")))
    driver.get(base + "/subscribe?lang=en")
    driver.find_element(By.ID, "email").send_keys("browser@example.com")
    driver.find_element(By.ID, "name").send_keys("Bea")
    submit(driver, lambda: driver.find_element(By.CSS_SELECTOR, 'form button[type="submit"]').click())
    result["signup_title"] = text(driver, By.TAG_NAME, "h1")
    confirmation = parse(new_emails(before)[0])
    result["confirmation_subject"] = str(confirmation["Subject"])
    confirm = next(h for h in links(confirmation) if "/confirm/" in h)
    driver.get(confirm)
    snapshot(driver, "confirm-en-375.png", 375, True)
    submit(driver, lambda: driver.find_element(By.CSS_SELECTOR, 'form button[type="submit"]').click())
    result["confirmed_title"] = text(driver, By.TAG_NAME, "h1")
finally:
    driver.quit()

print(json.dumps(result))

#!/usr/bin/env python3
"""The console in a real browser: headless Chromium (Debian's) driven by Playwright.

Starts `hourmeter demo` on loopback, then signs in as the maker in English and in Chinese and
walks the overview, the fleet, the alarmed device and an invoice; signs in as a customer;
tries a wrong key and another customer's invoice. It fails on any JavaScript error, console
error, failed request, unexpected HTTP error, or console page whose server render time
(Server-Timing) is over 1 s, and checks what must be there: the alarmed device first in the
fleet, the invoice total equal to the API's.

    python3 Tests/Browser/console_browser_test.py .build/debug/hourmeter [port] [screenshot-dir]
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from playwright.sync_api import sync_playwright

binary = sys.argv[1]
port = int(sys.argv[2]) if len(sys.argv) > 2 else 18300
shots = sys.argv[3] if len(sys.argv) > 3 else None
base = f"http://127.0.0.1:{port}"
problems = []
checks = 0


def check(condition, message):
    global checks
    checks += 1
    if not condition:
        problems.append(message)
        print("FAIL:", message, flush=True)


def api(path, key):
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


data = tempfile.mkdtemp(prefix="hourmeter-browser-")
demo = subprocess.Popen([binary, "demo", "--data-dir", os.path.join(data, "demo"), "--port", str(port)],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
keys = {}
ready = threading.Event()


def read_output():
    # Read the demo's output to its end, so the server never blocks on a full pipe.
    for line in demo.stdout:
        print(line, end="", flush=True)
        match = re.match(r"\s+(maker|operator|customer \(([^)]*)\))\S*.*?(hm_[0-9a-f]+)\s*$", line)
        if match:
            keys[match.group(2) or match.group(1)] = match.group(3)
        if line.startswith("Serving until"):
            ready.set()
    ready.set()


threading.Thread(target=read_output, daemon=True).start()
ready.wait(timeout=300)
check("maker" in keys and "Huaxia Construction Group" in keys, f"the demo started and printed its keys: {sorted(keys)}")

try:
    maker = keys["maker"]
    alarms = api("/api/v1/alarms?status=open", maker)
    alarmed = {alarm["device"] for alarm in alarms}
    fleet_api = api("/api/v1/fleet/health", maker)["devices"]
    check(len(alarmed) >= 1, f"the demo raised an alarm: {alarms}")
    check(fleet_api[0]["device"] in alarmed, f"the API's fleet puts an alarmed device first: {fleet_api[0]}")
    invoices = api("/api/v1/invoices?limit=100", maker)
    finalized = [invoice for invoice in invoices if invoice["status"] in ("finalized", "paid")]
    check(len(finalized) >= 3 and any(invoice["status"] == "paid" for invoice in finalized), f"last month billed, one paid: {[(i['number'], i['status']) for i in invoices]}")
    customers = {customer["id"]: customer["name"] for customer in api("/api/v1/customers", maker)}

    expected_errors = set()

    def watch(page):
        def on_response(response):
            url = response.url
            if not url.startswith(base):
                problems.append(f"a request left the server: {url}")
                return
            if response.status >= 400 and url not in expected_errors:
                problems.append(f"HTTP {response.status} for {url}")
            timing = response.headers.get("server-timing", "")
            found = re.search(r"dur=([0-9.]+)", timing)
            if url.startswith(base + "/console/") and "/sign-in" not in url and response.status == 200:
                if not found:
                    problems.append(f"no Server-Timing on {url}")
                elif float(found.group(1)) > 1000:
                    problems.append(f"{url} took {found.group(1)} ms to render on the server")
        page.on("response", on_response)
        page.on("pageerror", lambda error: problems.append(f"JavaScript error: {error}"))
        def on_console(message):
            # An answer the test asked for (a wrong key's 401, a hidden invoice's 404) is logged
            # by the browser as a failed load too; any other console error is a problem.
            if message.type == "error" and message.location.get("url") not in expected_errors:
                problems.append(f"console {message.type}: {message.text} ({message.location.get('url')})")
        page.on("console", on_console)
        page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url} {request.failure}"))

    def sign_in(page, key):
        page.goto(base + "/console/sign-in")
        page.fill("#key", key)
        page.click("button[type=submit]")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=["--no-sandbox"])
        for language, locale in (("en", "en-US"), ("zh", "zh-CN")):
            context = browser.new_context(locale=locale, viewport={"width": 1200, "height": 900})
            page = context.new_page()
            watch(page)
            sign_in(page, maker)
            page.wait_for_url("**/console/overview")
            html_lang = page.get_attribute("html", "lang")
            check(html_lang == ("en" if language == "en" else "zh-Hans"), f"{language}: page language {html_lang}")
            revenue = "Revenue posted this month" if language == "en" else "本月入账收入"
            check(revenue in page.content(), f"{language}: the overview shows {revenue}")
            check(page.locator("svg[role=img]").count() >= 1, f"{language}: the overview draws its chart")
            if shots and language == "en":
                page.screenshot(path=os.path.join(shots, "console-overview.png"), full_page=True)

            page.click("header a[href='/console/fleet']")
            page.wait_for_url("**/console/fleet")
            first = page.locator("table tbody tr").first.locator("td").first.inner_text().strip()
            check(first in alarmed and first == fleet_api[0]["device"], f"{language}: the alarmed device is first in the fleet (got {first}, alarms on {sorted(alarmed)})")
            check(page.locator("table tbody tr").count() == len(fleet_api), f"{language}: the fleet lists every device")

            page.click(f"table tbody tr >> nth=0 >> a")
            page.wait_for_url(f"**/console/devices/{first}")
            check(page.locator(".zone-D").count() >= 1 or page.locator(".zone-C").count() >= 1, f"{language}: {first} is shown in zone C or D")
            check(page.locator("svg[role=img]").count() >= 4, f"{language}: the device page draws health, velocity, states and usage")
            check(page.locator("details table").count() >= 3, f"{language}: each chart has its table")

            for invoice in finalized:
                page.goto(f"{base}/console/invoices/{invoice['id']}")
                shown = page.get_attribute("#invoice-total", "data-amount")
                check(shown == invoice["total"], f"{language}: invoice {invoice['number']} total {shown} equals the API's {invoice['total']}")
                # And what a person reads: the amount with the locale's symbol and grouping.
                visible = re.sub(r"[^0-9.]", "", page.inner_text("#invoice-total"))
                check(visible == invoice["total"], f"{language}: invoice {invoice['number']} shows {page.inner_text('#invoice-total')}")
            heading = "How each line is computed" if language == "en" else "每项明细的计算方式"
            check(heading in page.content(), f"{language}: the invoice explains each line")
            check(page.locator("svg[role=img]").count() >= 2, f"{language}: the invoice draws its decomposition")
            if shots and language == "en":
                page.screenshot(path=os.path.join(shots, "console-invoice.png"), full_page=True)
            # The switch on the page turns it into the other language, same page.
            page.click("a[hreflang]")
            other = "zh-Hans" if language == "en" else "en"
            check(page.get_attribute("html", "lang") == other and "/console/invoices/" in page.url, f"{language}: the switch shows the page in {other}")
            context.close()

        # A customer: its own machines and bill, not another customer's invoice.
        context = browser.new_context(locale="en-US", viewport={"width": 1200, "height": 900})
        page = context.new_page()
        watch(page)
        sign_in(page, keys["Huaxia Construction Group"])
        page.wait_for_url("**/console/home")
        content = page.content()
        check("EX-07" in content and "CT-01" not in content and "CNC-01" not in content, "the construction group sees its excavators only")
        check(page.locator("[data-amount]").count() >= 1 and "Projected bill" in content, "the customer sees its projected bill")
        theirs = [invoice for invoice in finalized if customers.get(invoice["customer"]) != "Huaxia Construction Group"][0]
        url = f"{base}/console/invoices/{theirs['id']}"
        expected_errors.add(url)
        response = page.goto(url)
        check(response.status == 404 and "nothing here" in page.content(), "another customer's invoice is not found")
        context.close()

        # A wrong key: a clear message, no session.
        context = browser.new_context(locale="en-US")
        page = context.new_page()
        watch(page)
        expected_errors.add(base + "/console/sign-in")
        sign_in(page, "hm_" + "0" * 48)
        check("not valid or has been revoked" in page.content(), "a wrong key is told so")
        check(not any(cookie["name"] == "hm_session" for cookie in context.cookies()), "a wrong key gets no session")
        context.close()
        browser.close()
finally:
    demo.terminate()
    demo.wait(timeout=30)
    shutil.rmtree(data, ignore_errors=True)

for problem in problems:
    print("PROBLEM:", problem)
print(f"console browser test: {checks} checks, {len(problems)} problems")
sys.exit(1 if problems else 0)

"""Drives the console in headless Chromium (Debian's, through Playwright for Python) as an
operator would, for tests/tests/console.rs. Exits non-zero with the reason when anything
an operator would see is wrong.

    python3 console_browser.py SCENARIO.json

The scenario (written by the Rust test) names the gateway, the tokens, a failed message, an
event to turn off and on, an event whose config to break, a component file to upload, a
target whose breaker is open and one whose breaker is closed, this node's id, and a
directory for screenshots of the main pages.
"""
import json
import sys
import time

from playwright.sync_api import expect, sync_playwright

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def sign_in(page, base, token):
    page.goto(f"{base}/console")
    page.fill("input[name=token]", token)
    page.click("#signin button[type=submit]")
    expect(page.locator("#nav")).to_be_visible()
    assert token not in page.url, "the token must never be in a URL"


def shot(page, scenario, name):
    page.screenshot(path=f"{scenario['screenshots']}/{name}.png", full_page=True)


def main():
    scenario = json.load(open(sys.argv[1]))
    base = scenario["base_url"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        # Sign in; a wrong token is told in words.
        page.goto(f"{base}/console")
        page.fill("input[name=token]", "not-the-token")
        page.click("#signin button[type=submit]")
        expect(page.locator("#error")).to_contain_text("not valid")
        sign_in(page, base, scenario["admin_token"])
        expect(page.locator("#messages")).to_be_visible()

        # Find the failed message with the filters, open it, retry it, see it delivered.
        page.select_option("select[name=status]", "failed")
        page.click("form.filters button[type=submit]")
        failed = scenario["failed_message"]
        page.click(f"a[href='#/message/{failed}']")
        expect(page.locator("#message-status")).to_have_text("failed")
        expect(page.locator("main")).to_contain_text("http_status")
        shot(page, scenario, "message")
        page.click("#retry")
        deadline = time.time() + 15
        while page.locator("#message-status").inner_text() != "delivered":
            assert time.time() < deadline, "the retried message was not shown delivered"
            time.sleep(0.3)
            page.evaluate("route()")
        # A failed delivery that holds its ordering key: skip it, and the key goes on.
        page.goto(f"{base}/console#/message/{scenario['held_message']}")
        expect(page.locator("main")).to_contain_text("holds its ordering key")
        page.click("button.skip")
        expect(page.locator("main .reason")).to_contain_text("skipped by an operator")
        expect(page.locator("button.skip")).to_have_count(0)
        page.goto(f"{base}/console#/messages")
        expect(page.locator("#messages")).to_contain_text(failed)
        shot(page, scenario, "messages")

        # Turn an event off and on.
        event = scenario["toggle_event"]
        page.goto(f"{base}/console#/events")
        row = page.locator("#events tr", has_text=event)
        expect(row).to_contain_text("on")
        row.locator(f"button[data-event='{event}']").click()
        expect(page.locator("#events tr", has_text=event).locator("td").nth(1)).to_have_text("off")
        page.locator(f"button[data-event='{event}']").click()
        expect(page.locator("#events tr", has_text=event).locator("td").nth(1)).to_have_text("on")
        shot(page, scenario, "events")

        # A config the API refuses: its error is shown next to the target it names.
        page.goto(f"{base}/console#/event/{scenario['edit_event']}")
        config = json.loads(page.input_value("#config"))
        config["targets"][0]["retry"] = {"max_attempts": 0}
        page.fill("#config", json.dumps(config, indent=2))
        page.click("#save")
        expect(page.locator("#config-error")).to_contain_text("targets[0].retry.max_attempts")
        expect(page.locator(".card.invalid .target-error")).to_contain_text("max_attempts")
        shot(page, scenario, "event")

        # Upload a component; it is listed.
        page.goto(f"{base}/console#/components")
        page.fill("#upload input[name=name]", scenario["upload_name"])
        page.set_input_files("#upload input[type=file]", scenario["upload_file"])
        page.click("#upload button[type=submit]")
        expect(page.locator("#components")).to_contain_text(scenario["upload_name"])
        shot(page, scenario, "components")

        # Health: the target that is down shows its breaker open, one that failed and
        # recovered shows it closed, and the node list shows this node alive.
        page.goto(f"{base}/console#/health")
        expect(page.locator("#health")).to_contain_text("Pending deliveries")
        expect(page.locator(f"#targets tr[data-target='{scenario['open_breaker']}'] .breaker")).to_have_text("open")
        expect(page.locator(f"#targets tr[data-target='{scenario['closed_breaker']}'] .breaker")).to_have_text("closed")
        node = page.locator(f"#nodes tr[data-node='{scenario['node_id']}']")
        expect(node).to_contain_text("alive")
        expect(node).to_contain_text("this node")
        shot(page, scenario, "health")

        # A read token sees everything and changes nothing; the buttons say why.
        page.click("#who button")
        sign_in(page, base, scenario["read_token"])
        page.goto(f"{base}/console#/message/{scenario['read_failed_message']}")
        retry = page.locator("#retry")
        expect(retry).to_be_disabled()
        assert "read-only" in retry.get_attribute("title"), retry.get_attribute("title")
        page.goto(f"{base}/console#/events")
        expect(page.locator(f"button[data-event='{event}']")).to_be_disabled()

        assert not errors, f"script errors on the page: {errors}"
        browser.close()
    print("console: every step passed")


if __name__ == "__main__":
    main()

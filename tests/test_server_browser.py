"""The web page in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright):
search, click a moment, the player lands inside it; the curve, the keys, "no matching moment",
uploads with progress, a narrow screen. Screenshots go to $MOMENTFINDER_SCREENSHOTS (default: the
test's temporary folder)."""

from __future__ import annotations

import os

import pytest

from momentfinder.server import ServerConfig

from .test_server import FROG, LiveServer, build_library, new_video

CHROMIUM = os.environ.get("MOMENTFINDER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium; .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory, tiny_clip):
    folder = tmp_path_factory.mktemp("live")
    db, _ = build_library(folder, tiny_clip)
    with LiveServer(ServerConfig(db=db, state_dir=str(folder / "state"))) as server:
        yield server


@pytest.fixture
def shots(tmp_path):
    folder = os.environ.get("MOMENTFINDER_SCREENSHOTS") or str(tmp_path / "screenshots")
    os.makedirs(folder, exist_ok=True)
    return folder


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    yield page
    context.close()
    assert not errors, errors  # no script error on the page


def player_time(page) -> float:
    return page.evaluate("document.getElementById('player').currentTime")


def wait_inside(page, start: float, end: float) -> float:
    page.wait_for_function(
        "([s, e]) => { const v = document.getElementById('player');"
        " return v.readyState >= 1 && v.currentTime >= s - 0.05 && v.currentTime <= e + 0.05; }",
        arg=[start, end],
        timeout=20_000,
    )
    return player_time(page)


def search(page, url: str, query: str) -> None:
    page.goto(url + "/")
    page.fill("#query", query)
    page.press("#query", "Enter")


def test_search_click_a_moment_and_the_player_is_inside_it(page, live, shots):
    search(page, live.url, FROG)
    page.wait_for_selector(".hit")
    hits = page.locator(".hit")
    assert hits.count() >= 3
    first = hits.nth(0).inner_text()
    assert "v1.mp4" in first and "00:00:06\u201300:00:12" in first and "confidence 100%" in first
    page.wait_for_function(
        "() => { const i = document.querySelector('.hit img'); return i.complete && i.naturalWidth > 0; }"
    )

    hits.nth(1).click()  # another video
    hit = page.evaluate("view.hits[1]")
    assert page.locator(".hit").nth(1).get_attribute("aria-current") == "true"
    t = wait_inside(page, hit["start"], hit["end"])
    assert hit["start"] - 0.05 <= t <= hit["end"] + 0.05
    assert page.inner_text("#viewer-heading") == hit["name"]
    assert f"/api/videos/{hit['video_id']}/clip?start=" in page.get_attribute("#export", "href")
    page.wait_for_selector("#curve .saliency")
    page.screenshot(path=os.path.join(shots, "moment.png"), full_page=True)

    hits.nth(0).click()  # the best: v1, 6.5-11.5 s
    wait_inside(page, 6.5, 11.5)
    page.wait_for_function("() => view.grounding && view.grounding.name === 'v1.mp4'")
    page.wait_for_selector("#curve rect.moment.current")
    rect = page.locator("#curve rect.moment.current")
    assert (float(rect.get_attribute("data-start")), float(rect.get_attribute("data-end"))) == (6.5, 11.5)
    # the player stops once at the moment's end
    page.evaluate("document.getElementById('player').currentTime = 11.2")
    page.evaluate("document.getElementById('player').muted = true; document.getElementById('player').play()")
    page.wait_for_function("() => document.getElementById('player').paused && view.stopped", timeout=20_000)
    assert "end of the moment" in page.inner_text("#moment-label")
    assert 11.0 <= player_time(page) <= 12.5


def test_curve_moments_are_clickable(page, live):
    search(page, live.url, FROG)
    page.wait_for_selector(".hit")
    page.locator(".hit").nth(0).click()
    page.wait_for_function("() => view.grounding && view.grounding.name === 'v1.mp4'")
    page.evaluate("document.getElementById('player').currentTime = 0")
    page.wait_for_function("() => document.getElementById('player').currentTime < 1")
    rects = page.locator("#curve rect.moment")
    assert rects.count() >= 1
    target = rects.nth(rects.count() - 1)
    start, end = float(target.get_attribute("data-start")), float(target.get_attribute("data-end"))
    target.click()
    wait_inside(page, start, end)


def test_keyboard_only(page, live, shots):
    page.goto(live.url + "/")
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("/")  # the search box takes the focus, and not the "/"
    assert page.evaluate("document.activeElement.id") == "query" and page.input_value("#query") == ""
    page.keyboard.type(FROG)
    page.keyboard.press("Enter")
    page.wait_for_selector(".hit")
    page.locator(".hit").nth(0).focus()
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.dataset.index") == "1"
    page.keyboard.press("Enter")
    hit = page.evaluate("view.hits[1]")
    wait_inside(page, hit["start"], hit["end"])
    page.keyboard.press("n")
    assert page.locator(".hit").nth(2).get_attribute("aria-current") == "true"
    hit = page.evaluate("view.hits[2]")
    wait_inside(page, hit["start"], hit["end"])
    page.keyboard.press("p")
    assert page.locator(".hit").nth(1).get_attribute("aria-current") == "true"
    # a moment on the curve is reached with Tab and taken with Enter
    page.wait_for_selector("#curve rect.moment")
    page.focus("#curve rect.moment")
    page.keyboard.press("Enter")
    rect = page.locator("#curve rect.moment").first
    wait_inside(page, float(rect.get_attribute("data-start")), float(rect.get_attribute("data-end")))
    page.focus("#curve rect.moment")
    page.screenshot(path=os.path.join(shots, "keyboard.png"))


def test_no_matching_moment(page, tmp_path, shots):
    with LiveServer(ServerConfig(db=str(tmp_path / "empty.db"), state_dir=str(tmp_path / "s"))) as empty:
        search(page, empty.url, "a dog catches a frisbee")
        page.wait_for_selector("#status.no-match")
        assert "No matching moment" in page.inner_text("#status")
        assert page.locator(".hit").count() == 0 and page.is_hidden("#viewer")
        page.screenshot(path=os.path.join(shots, "no-match.png"))
        # an empty query is refused on the page, before any request
        page.fill("#query", "   ")
        page.press("#query", "Enter")
        page.wait_for_function(
            "() => /Type what happens first/.test(document.getElementById('status').textContent)"
        )


def test_upload_with_progress_then_ground_in_it(page, live, tmp_path, shots):
    video = new_video(tmp_path / "taxi.mp4")
    page.goto(live.url + f"/#token={live.state.token}")
    assert page.input_value("#token") == live.state.token  # taken from the link
    assert "token" not in page.url  # and out of the address bar
    page.fill("#query", "a yellow square")
    page.set_input_files("#upload-file", video)
    page.click("#upload-form button[type=submit]")
    page.wait_for_function(
        "() => /Added taxi.mp4/.test(document.getElementById('upload-status').textContent)"
    )
    assert page.evaluate("document.getElementById('upload-progress').value") == 100
    page.wait_for_selector(".hit")
    assert "taxi.mp4" in page.locator(".hit").nth(0).inner_text()
    assert "in taxi.mp4" in page.inner_text("#status")
    page.screenshot(path=os.path.join(shots, "upload.png"), full_page=True)

    page.fill("#token", "wrong-token")
    page.set_input_files("#upload-file", video)
    page.click("#upload-form button[type=submit]")
    page.wait_for_function(
        "() => /Upload failed: wrong write token/.test(document.getElementById('upload-status').textContent)"
    )


def test_narrow_screen(browser, live, shots):
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True
    )
    page = context.new_page()
    try:
        search(page, live.url, FROG)
        page.wait_for_selector(".hit")
        page.locator(".hit").nth(0).click()
        wait_inside(page, 6.5, 11.5)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing sticks out sideways
        player = page.locator("#player").bounding_box()
        results = page.locator("#results-panel").bounding_box()
        assert player["width"] <= 360 and results["width"] <= 360
        page.screenshot(path=os.path.join(shots, "narrow.png"), full_page=True)
    finally:
        context.close()


def test_watch_a_file_live_from_the_page(page, live, shots):
    """The page starts a watch (token from the upload form) and follows its events until the end."""
    source = os.path.join(os.path.dirname(live.state.config.library), "vids", "v1.mp4")  # build_library's
    page.goto(live.url + f"/#token={live.state.token}")
    page.fill("#live-source", source)
    page.fill("#live-query", FROG)
    page.click("#live-form button[type=submit]")
    page.wait_for_function("() => /Watching/.test(document.getElementById('live-status').textContent)")
    page.wait_for_function(
        "() => /The watch has ended/.test(document.getElementById('live-status').textContent)", timeout=60_000
    )
    watch = live.state.watches.all()[-1]
    assert page.locator("#live-events li").count() == len(watch.history)  # every event shown
    page.screenshot(path=os.path.join(shots, "watch.png"), full_page=True)
    page.fill("#live-source", "/etc/passwd")
    page.click("#live-form button[type=submit]")
    page.wait_for_function(
        "() => /Could not start the watch: that path is outside/.test(document.getElementById('live-status').textContent)"
    )

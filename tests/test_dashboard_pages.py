"""The dashboard's addresses and pages in a real browser: a link per search with back and forward, the paged
search list, exact space sizes, and the API docs with the network blocked (set-up in ``browser_support``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from browser_support import TIMEOUT_MS, browser, page, screenshot  # noqa: F401 (fixtures)
from live_server import live_server, paced_scorers
from playwright.sync_api import Page, expect

from searchspace import get_space, list_spaces


def start_searches(page: Page, url: str, seeds: range) -> list[str]:
    """Start one small random search per seed over the API; their ids, oldest first."""
    ids = []
    for seed in seeds:
        response = page.request.post(url + "/v1/searches", data={"space": "nb201", "strategy": "random", "budget": 2, "seed": seed})
        assert response.ok, response.text()
        ids.append(response.json()["id"])
    return ids


def test_each_search_has_its_own_address_and_back_and_forward_follow_it(page, tmp_path):
    with live_server(tmp_path, paced_scorers(delay=0.01)) as url:
        older, newer = start_searches(page, url, range(2))
        page.goto(f"{url}/searches/{older}")
        expect(page.locator("#d-id")).to_have_text(older)
        expect(page.locator("#d-status")).to_have_text("done", timeout=TIMEOUT_MS)
        expect(page.locator(f'#searches tbody tr[data-id="{older}"]')).to_have_class("selected")
        page.click(f'#searches tbody tr[data-id="{newer}"]')
        expect(page.locator("#d-id")).to_have_text(newer)
        assert page.url == f"{url}/searches/{newer}", f"clicking a search gives it its address, got {page.url}"
        assert page.locator("#d-link").get_attribute("href") == f"/searches/{newer}", "the id links to its own page"
        screenshot(page, tmp_path, "dashboard-search-link")
        page.go_back()
        expect(page.locator("#d-id")).to_have_text(older)
        page.go_forward()
        expect(page.locator("#d-id")).to_have_text(newer)
        page.goto(f"{url}/#/searches/{older}")
        expect(page.locator("#d-id")).to_have_text(older)


def test_an_unknown_search_address_says_so_on_the_page(page, tmp_path):
    with live_server(tmp_path, paced_scorers()) as url:
        page.goto(f"{url}/searches/no-such-search")
        expect(page.locator("#d-status")).to_have_text("not found")
        expect(page.locator("#d-error")).to_contain_text("no search no-such-search")


def test_the_search_list_pages_back_to_the_oldest_search(page, tmp_path):
    with live_server(tmp_path, paced_scorers(delay=0.002), max_running_jobs=4) as url:
        ids = start_searches(page, url, range(23))
        page.goto(url + "/")
        expect(page.locator("#searches tbody tr")).to_have_count(20)
        expect(page.locator("#page-newer")).to_be_disabled()
        expect(page.locator("#searches tbody tr").first).to_have_attribute("data-id", ids[-1])
        page.click("#page-older")
        expect(page.locator("#searches tbody tr")).to_have_count(3)
        expect(page.locator("#page-text")).to_have_text("21–23")
        expect(page.locator("#page-older")).to_be_disabled()
        expect(page.locator("#searches tbody tr").last).to_have_attribute("data-id", ids[0])
        screenshot(page, tmp_path, "dashboard-search-list-page-2")
        page.click("#searches tbody tr >> nth=-1")
        assert page.url == f"{url}/searches/{ids[0]}", "the oldest search opens from the second page"
        page.click("#page-newer")
        expect(page.locator("#searches tbody tr")).to_have_count(20)


def test_the_api_docs_page_works_with_the_network_blocked(page, tmp_path):
    with live_server(tmp_path, paced_scorers()) as url:
        origin = urlsplit(url).netloc
        page.context.route("**/*", lambda route: route.continue_() if urlsplit(route.request.url).netloc == origin else route.abort())
        page.goto(url + "/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("naswot")
        expect(page.locator(".opblock-summary-path", has_text="/v1/searches/{search_id}").first).to_be_visible()
        page.locator(".opblock-summary-path", has_text="/v1/spaces").first.click()
        page.locator("button.try-out__btn").first.click()
        page.locator("button.execute").first.click()
        expect(page.locator(".live-responses-table tbody .response-col_status").first).to_contain_text("200")
        screenshot(page, tmp_path, "api-docs-offline")
        assert all(urlsplit(u).netloc == origin for u in page.requested), f"/docs asked for {[u for u in page.requested if origin not in u]}"
        assert not page.refused, f"the docs page broke its own policy: {page.refused}"


def test_space_sizes_beyond_2_to_the_53_are_shown_exactly_on_one_line(page, tmp_path):
    sizes = {name: get_space(name).size for name in list_spaces()}
    huge = {name: size for name, size in sizes.items() if size is not None and size > 2**53}
    with live_server(tmp_path, paced_scorers()) as url:
        page.goto(url + "/")
        expect(page.locator("#spaces tbody tr")).to_have_count(len(sizes))
        for name, size in huge.items():
            size_cell = page.locator("#spaces tbody tr", has=page.locator("td", has_text=name)).locator("td.num")
            expect(size_cell).to_have_text(f"{size:,}")
            lines = size_cell.evaluate("(td) => { const r = document.createRange(); r.selectNodeContents(td); "
                                       "return new Set([...r.getClientRects()].map((x) => Math.round(x.top))).size; }")
            assert lines == 1, f"{name}'s size wraps over {lines} lines"
            assert size_cell.evaluate("(td) => td.scrollWidth <= td.clientWidth"), f"{name}'s size overflows its cell"
        page.locator("#spaces").screenshot(path=tmp_path / "dashboard-space-sizes.png")
        print(f"screenshot: {tmp_path / 'dashboard-space-sizes.png'}")
    assert "ofa-mbv3" in huge, "the test needs a space larger than 2^53"

"""Late answers made on purpose: API calls of the dashboard held by Playwright until the test lets
them go, and a way to know the page has read an answer (not a sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page, Request, Route

# Each answer body the page reads (all of the dashboard's go through Response.text) is noted once
# read, and an answer without a body (204) once it came; the page's own handling of it follows in
# the same run of microtasks, so by the time a later page.evaluate sees it noted, the page has
# drawn it (or dropped it).
NOTE_READ_ANSWERS = """
(() => {
  const read = Response.prototype.text;
  const fetch = window.fetch;
  window.answersRead = [];
  Response.prototype.text = function () {
    const url = this.url;
    return read.call(this).then((body) => (window.answersRead.push(url), body));
  };
  window.fetch = function (...args) {
    return fetch.apply(this, args).then((response) => {
      if (response.status === 204) window.answersRead.push(response.url);
      return response;
    });
  };
})();
"""
WAIT_S = 10.0


def note_read_answers(page: Page) -> None:
    """Call before the page loads (sign_in)."""
    page.add_init_script(NOTE_READ_ANSWERS)


def until(page: Page, condition: Callable[[], bool], what: str) -> None:
    """Let Playwright deliver events (and run route handlers) until `condition()` holds."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        page.wait_for_timeout(10)


class Held:
    """Requests to `pattern` for which `wanted(request)` is true are held until `release`."""

    def __init__(self, page: Page, pattern: str, wanted: Callable[[Request], bool]) -> None:
        self.page = page
        self.wanted = wanted
        self.routes: list[Route] = []
        self.urls: list[str] = []
        page.route(pattern, self._route)

    def _route(self, route: Route) -> None:
        if self.wanted(route.request):
            self.routes.append(route)
            self.urls.append(route.request.url)
        else:
            route.fallback()

    def wait(self, count: int = 1) -> None:
        until(self.page, lambda: len(self.routes) >= count, f"{count} request(s) held")

    def release(self) -> None:
        """Let every held request go on, and wait until the page has read their answers."""
        routes, self.routes = self.routes, []
        read_before: list[str] = self.page.evaluate("window.answersRead")
        wanted = {url: read_before.count(url) + self.urls.count(url) for url in self.urls}
        self.urls = []
        for route in routes:
            route.continue_()

        def all_read() -> bool:
            read: list[str] = self.page.evaluate("window.answersRead")
            return all(read.count(url) >= times for url, times in wanted.items())

        until(self.page, all_read, f"the page read {sorted(wanted)}")

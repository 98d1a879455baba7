"""widget_html and install: the <underway-progress> markup escapes whatever it is given; the
widget's two static files stay small, insert no raw HTML, and are served by the web app."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import httpx
import jinja2
import pytest
from markupsafe import Markup

from underway.web.widget import install, widget_html

STATIC = Path(__file__).parents[2] / "src" / "underway" / "web" / "static"
WIDGET_FILES = ("underway-progress.js", "underway-progress.css")
HOSTILE = "\"'><script>alert(1)</script>&amp;"


class Tags(HTMLParser):
    """The start tags of a fragment with their attributes, as a browser would read them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_every_attribute_is_escaped() -> None:
    html = widget_html(HOSTILE, src=f"/mount{HOSTILE}/", view=HOSTILE, markdown=True)
    assert isinstance(html, Markup)
    parsed = Tags(str(html))
    assert [tag for tag, _ in parsed.tags] == ["link", "script", "underway-progress", "a"]
    link, script, widget, fallback = (attrs for _, attrs in parsed.tags)
    base = f"/mount{HOSTILE}"
    assert link == {"rel": "stylesheet", "href": f"{base}/static/underway-progress.css"}
    assert script == {"defer": None, "src": f"{base}/static/underway-progress.js"}
    assert widget == {"job": HOSTILE, "src": base, "view": HOSTILE, "markdown": None}
    assert fallback["href"] == (
        f"{base}/api/jobs/%22%27%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E%26amp%3B"
        "?view=%22%27%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E%26amp%3B"
    )
    assert "".join(parsed.text) == f"Job {HOSTILE}: status (JSON)"


def test_cancel_only_without_a_view_token() -> None:
    plain = Tags(str(widget_html("job-1", cancel=True))).tags
    assert plain[2] == ("underway-progress", {"job": "job-1", "src": "/jobs", "cancel": None})
    assert plain[3] == ("a", {"href": "/jobs/api/jobs/job-1"})
    viewed = Tags(str(widget_html("job-1", view="tok", cancel=True))).tags
    assert viewed[2] == ("underway-progress", {"job": "job-1", "src": "/jobs", "view": "tok"})
    at_root = Tags(str(widget_html("job-1", src=""))).tags
    assert at_root[0][1]["href"] == "/static/underway-progress.css"
    assert at_root[2][1]["src"] == ""


def test_install_registers_the_template_global() -> None:
    env = jinja2.Environment(autoescape=True)
    install(env, src="/background")
    page = env.from_string(
        "{{ underway_progress(job, cancel=True) }}|{{ underway_progress(job, src='/other') }}"
    ).render(job=HOSTILE)
    first, second = page.split("|", 1)
    assert Tags(first).tags[2][1] == {"job": HOSTILE, "src": "/background", "cancel": None}
    assert Tags(second).tags[2][1] == {"job": HOSTILE, "src": "/other"}
    with pytest.raises(TypeError):
        env.from_string("{{ underway_progress('j', colour='red') }}").render()


def test_the_static_files_are_small_and_build_no_html() -> None:
    sizes = {name: (STATIC / name).stat().st_size for name in WIDGET_FILES}
    assert sum(sizes.values()) < 15_000, sizes
    script = (STATIC / "underway-progress.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script


@pytest.mark.anyio
async def test_the_web_app_serves_them(client: httpx.AsyncClient) -> None:
    for name, kind in zip(WIDGET_FILES, ("javascript", "text/css"), strict=True):
        response = await client.get(f"/static/{name}")
        assert response.status_code == 200
        assert kind in response.headers["content-type"]
        assert response.content == (STATIC / name).read_bytes()

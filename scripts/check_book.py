"""Check the built book (``_build/html``) the way a reader's browser sees it, offline.

1. Static pass over every page: each ``<img>``, script and stylesheet is a local file, each internal
   link points at an existing file (and, with a ``#fragment``, at an existing id), and no page loads
   or names a remote script (CDN). Every image in a page's content sits in a ``<figure>`` with a
   ``<figcaption>`` (a numbered, captioned figure), and every labelled figure is cited by a link
   from outside the figure on its page (``{numref}`` in the text).
2. Browser pass (skipped, with a note, where no Chromium is installed): the book is served on
   localhost and every page is opened in headless Chromium, 1400 × 900 pixels, with a small probe
   injected into the served HTML. The probe records script errors and failed loads, and after MathJax
   has typeset it records every ``<img>`` that did not load (naturalWidth == 0) and every element of
   the page's content that overflows horizontally: a box that scrolls sideways (a table, an output)
   or whose content sticks out of the content column. The server records every request it had to
   answer with an error.
3. Screenshots at 1400 × 900 of the introduction, the first research-question page of every dataset and the
   summary (or of the ``--page`` pages) go to ``_build/screenshots/<page>.png``.

Exit status 0 when every check passes, 1 when a check fails, 2 when the book is missing (or Chromium,
with ``--require-browser``).

    python scripts/check_book.py [--html _build/html] [--static-only] [--page book/executed/GunPoint/rq1.html ...]
"""
from __future__ import annotations

import argparse
import html.parser
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
]
WINDOW = "1400,900"  # the reader's window for the overflow check
REMOTE = re.compile(r"^(https?:)?//", re.IGNORECASE)
REMOTE_IN_SCRIPT = re.compile(r"https?://", re.IGNORECASE)

# Runs first in every served page: collects errors while the page loads, then reports on the images
# and the typeset math in an attribute of <html>, which --dump-dom prints.
PROBE = """<script>
window.__checkErrors = [];
window.addEventListener("error", function (e) {
  var t = e.target;
  if (t && t !== window && (t.src || t.href)) __checkErrors.push("failed to load " + (t.src || t.href));
  else __checkErrors.push("script error: " + e.message);
}, true);
window.addEventListener("load", function () {
  function report() {
    var imgs = Array.prototype.slice.call(document.images);
    var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                     .map(function (i) { return i.getAttribute("src"); });
    document.documentElement.setAttribute("data-check", JSON.stringify({
      images: imgs.length, broken: broken, errors: __checkErrors, overflow: overflows(),
      math: document.querySelectorAll("mjx-container").length,
      mathErrors: document.querySelectorAll("mjx-merror").length
    }));
  }
  function overflows() {
    var main = document.querySelector("article.bd-article") || document.querySelector("main") || document.body;
    var limit = main.getBoundingClientRect().right + 2, out = [];
    var all = main.querySelectorAll("*");
    for (var i = 0; i < all.length && out.length < 8; i++) {
      var el = all[i];
      if (!el.clientWidth || el.closest("details:not([open])") || el.closest("mjx-container")) continue;
      var style = getComputedStyle(el), scrolls = /(auto|scroll)/.test(style.overflowX);
      var wide = scrolls ? el.scrollWidth > el.clientWidth + 2 : el.getBoundingClientRect().right > limit;
      if (!wide || (!scrolls && el.parentElement && el.parentElement.getBoundingClientRect().right > limit)) continue;
      var what = el.tagName.toLowerCase() + (el.className && typeof el.className === "string" ?
        "." + el.className.trim().split(/\\s+/).slice(0, 2).join(".") : "");
      out.push(what + " (" + (scrolls ? el.scrollWidth + " px of content in " + el.clientWidth + " px" :
        "ends at " + Math.round(el.getBoundingClientRect().right) + " px, column at " + Math.round(limit - 2)) +
        "): " + (el.textContent || "").trim().slice(0, 60));
    }
    if (document.documentElement.scrollWidth > window.innerWidth + 2)
      out.push("the page scrolls sideways (" + document.documentElement.scrollWidth + " px wide)");
    return out;
  }
  var mj = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
  if (mj) mj.then(report, report); else report();
});
</script>"""


# ----------------------------------------------------------------------------------------------- static


class PageParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.assets: list[tuple[str, str]] = []  # (tag, url)
        self.inline_scripts: list[str] = []
        self._in_script = False
        self.figures: list[dict] = []  # {"id", "caption", "images"} of every <figure> in the content
        self.loose_images: list[str] = []  # content images outside any captioned figure
        self.cited: set[str] = set()  # fragments linked from outside the figure they name
        self._figures: list[dict] = []  # the open <figure> elements
        self._article = 0  # depth inside the page's content (<article>)
        self.text: list[str] = []  # the content's text

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "article":
            self._article += 1
        elif tag == "figure":
            self._figures.append({"id": a.get("id", ""), "caption": False, "images": []})
        elif tag == "figcaption" and self._figures:
            self._figures[-1]["caption"] = True
        if tag == "img" and self._article:
            if self._figures:
                self._figures[-1]["images"].append(a.get("src") or "")
            else:
                self.loose_images.append(a.get("src") or "")
        if tag == "a" and (a.get("href") or "").startswith("#"):
            inside = {f["id"] for f in self._figures}
            if a["href"][1:] not in inside:
                self.cited.add(a["href"][1:])
        for key in ("id", "name"):
            if a.get(key) and (key == "id" or tag == "a"):
                self.ids.add(a[key])
        if tag == "a" and a.get("href") is not None:
            self.links.append(a["href"])
        elif tag == "img" and a.get("src") is not None:
            self.assets.append(("img", a["src"]))
        elif tag == "script":
            if a.get("src"):
                self.assets.append(("script", a["src"]))
            else:
                self._in_script = True
        elif tag == "link" and a.get("href") and set((a.get("rel") or "").split()) & {"stylesheet", "preload", "icon"}:
            self.assets.append(("link", a["href"]))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False
        elif tag == "article":
            self._article = max(0, self._article - 1)
        elif tag == "figure" and self._figures:
            self.figures.append(self._figures.pop())

    def handle_data(self, data):
        if self._in_script:
            self.inline_scripts.append(data)
        elif self._article:
            self.text.append(data)


def parse(path: Path) -> PageParser:
    p = PageParser()
    p.feed(path.read_text(encoding="utf-8", errors="replace"))
    return p


def resolve(page: Path, url: str, site: Path) -> tuple[Path | None, str]:
    """The local file a relative URL of ``page`` points at (None when it leaves the site), and its fragment."""
    parts = urlsplit(url)
    if not parts.path:
        return page, parts.fragment
    target = (page.parent / unquote(parts.path)).resolve()
    if target.is_dir():
        target = target / "index.html"
    return (target if target.is_relative_to(site) else None), parts.fragment


def static_checks(site: Path, pages: list[Path]) -> tuple[list[str], dict]:
    problems, stats = [], dict(pages=len(pages), links=0, images=0, external_links=0, figures=0)
    parsed = {p: parse(p) for p in pages}
    executed = site / "book" / "executed"
    datasets = sorted(d.name for d in executed.iterdir() if d.is_dir()) if executed.is_dir() else []
    for page, doc in parsed.items():
        name = page.relative_to(site).as_posix()
        rel = page.relative_to(site).parts
        if len(rel) == 4 and rel[:2] == ("book", "executed") and rel[2] in datasets:  # a dataset's own page
            text = " ".join(doc.text)
            others = [d for d in datasets if d != rel[2] and re.search(rf"\b{re.escape(d)}\b", text)]
            problems += [f"{name}: names another dataset's result ({d})" for d in others]
        problems += [f"{name}: a figure without a caption ({src})" for src in doc.loose_images]
        for fig in doc.figures:
            if not fig["images"]:
                continue
            stats["figures"] += 1
            if not fig["caption"]:
                problems.append(f"{name}: a figure without a caption ({fig['images'][0]})")
            elif fig["id"] and fig["id"] not in doc.cited:
                problems.append(f"{name}: figure #{fig['id']} is never cited in the text ({{numref}})")
        for tag, url in doc.assets:
            if REMOTE.match(url):
                problems.append(f"{name}: <{tag}> loads a remote URL {url}")
                continue
            target, _ = resolve(page, url, site)
            stats["images"] += tag == "img"
            if target is None or not target.is_file():
                problems.append(f"{name}: <{tag}> points at a missing file {url}")
        for body in doc.inline_scripts:
            for m in REMOTE_IN_SCRIPT.finditer(body):
                problems.append(f"{name}: an inline script names a remote URL ({body[m.start():m.start() + 60]!r})")
        for url in doc.links:
            if url.startswith(("mailto:", "javascript:", "data:")) or url in ("", "#"):
                continue
            if REMOTE.match(url):
                stats["external_links"] += 1
                continue
            stats["links"] += 1
            target, fragment = resolve(page, url, site)
            if target is None or not target.is_file():
                problems.append(f"{name}: link to a missing page {url}")
            elif fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else parse(target).ids
                if unquote(fragment) not in ids:
                    problems.append(f"{name}: link to a missing anchor {url}")
    return problems, stats


# ----------------------------------------------------------------------------------------------- browser


class Server:
    """The site on an ephemeral localhost port; HTML is served with the probe injected."""

    def __init__(self, site: Path):
        self.failed: list[str] = []
        failed = self.failed

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                if urlsplit(self.path).path == "/favicon.ico":  # browsers ask for it unprompted; the book has none
                    self.send_response(204)
                    self.end_headers()
                    return
                path = Path(self.translate_path(self.path))
                if path.is_dir():
                    path = path / "index.html"
                if path.suffix == ".html" and path.is_file():
                    text = path.read_text(encoding="utf-8", errors="replace")
                    body = re.sub(r"<head[^>]*>", lambda m: m.group(0) + PROBE, text, count=1).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                super().do_GET()

            def send_error(self, code, message=None, explain=None):
                failed.append(f"HTTP {code} for {self.path} (requested by {self.headers.get('Referer', '?')})")
                super().send_error(code, message, explain)

            def log_message(self, *args):
                pass

        class QuietServer(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                if not isinstance(sys.exc_info()[1], ConnectionError):  # a page closed before its answer: not a fault
                    super().handle_error(request, client_address)

        self.httpd = QuietServer(("127.0.0.1", 0), partial(Handler, directory=str(site)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium(binary: str, profile: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    cmd = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def browser_checks(binary: str, server: Server, site: Path, pages: list[Path], profile: Path) -> tuple[list[str], dict]:
    problems, stats = [], dict(rendered_images=0, math=0)
    for page in pages:
        name = page.relative_to(site).as_posix()
        try:
            proc = chromium(binary, profile, f"--window-size={WINDOW}", "--virtual-time-budget=15000", "--dump-dom",
                            f"{server.url}/{name}")
        except subprocess.TimeoutExpired:
            problems.append(f"{name}: Chromium did not finish within 90 s")
            continue
        m = re.search(r'data-check="([^"]*)"', proc.stdout)
        if not m:
            problems.append(f"{name}: the page never finished loading (exit {proc.returncode}) {proc.stderr[-300:]}")
            continue
        report = json.loads(html.unescape(m.group(1)))
        stats["rendered_images"] += report["images"] - len(report["broken"])
        stats["math"] += report["math"]
        problems += [f"{name}: image did not load in the browser: {src}" for src in report["broken"]]
        problems += [f"{name}: {err}" for err in report["errors"]]
        problems += [f"{name}: overflows horizontally at {WINDOW} px: {what}" for what in report.get("overflow", [])]
        if report["mathErrors"]:
            problems.append(f"{name}: MathJax could not typeset {report['mathErrors']} formula(s)")
        if "math notranslate" in page.read_text(encoding="utf-8", errors="replace") and not report["math"]:
            problems.append(f"{name}: the page holds math but MathJax typeset none of it")
    return problems, stats


def screenshot_pages(site: Path, pages: list[Path], wanted: list[str] | None) -> list[Path]:
    """The pages given, else the reader's first views: the introduction, the first research-question page of
    every dataset and the summary."""
    if wanted:
        return [site / w for w in wanted]
    rel = [p.relative_to(site).as_posix() for p in pages]
    shots = [r for r in rel if re.match(r"^book/executed/intro\.html$", r)] or ["index.html"]
    for d in sorted({m.group(1) for r in rel if (m := re.match(r"^book/executed/([^/]+)/rq\d\.html$", r))}):
        shots.append(sorted(r for r in rel if re.match(rf"^book/executed/{re.escape(d)}/rq\d\.html$", r))[0])
    shots += [r for r in rel if r == "book/executed/summary.html"]
    return [site / r for r in shots if (site / r).is_file()]


# ----------------------------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--html", type=Path, default=ROOT / "_build" / "html", help="the built site")
    ap.add_argument("--page", nargs="+", help="pages to screenshot at 1400 × 900, relative to the site (default: the "
                    "introduction, the first RQ page of each dataset and the summary)")
    ap.add_argument("--static-only", action="store_true", help="skip Chromium (no rendering checks, no screenshot)")
    ap.add_argument("--require-browser", action="store_true",
                    help="fail (exit 2) when Chromium is missing instead of skipping the browser checks")
    args = ap.parse_args(argv)

    site = args.html.resolve()
    if not (site / "index.html").is_file():
        print(f"no built book at {site}; build it first with `make book`", file=sys.stderr)
        return 2
    pages = sorted(p for p in site.rglob("*.html") if "_static" not in p.relative_to(site).parts)
    problems, stats = static_checks(site, pages)
    sys.path.insert(0, str(ROOT))
    from tsvq.book import stale_pages

    stale = stale_pages(ROOT)
    problems += [f"stale page {line}" for line in stale]
    stats["stale_pages"] = len(stale)

    binary = None if args.static_only else find_chromium()
    if not args.static_only and binary is None:
        if args.require_browser:
            print("Chromium not found; install it (`apt-get install -y chromium`)", file=sys.stderr)
            return 2
        print("note: Chromium not found, so the browser checks (rendering, images, math, horizontal overflow) "
              "and the screenshot are skipped; `apt-get install -y chromium` enables them", file=sys.stderr)
    if binary is not None:
        server = Server(site)
        profile = Path(tempfile.mkdtemp(prefix="check-book-chromium-"))
        try:
            more, bstats = browser_checks(binary, server, site, pages, profile)
            problems += more + server.failed
            stats.update(bstats)
            shots = ROOT / "_build" / "screenshots"
            shots.mkdir(parents=True, exist_ok=True)
            written = []
            for shot_page in screenshot_pages(site, pages, args.page):
                rel = shot_page.relative_to(site).with_suffix("")
                shot = shots / f"{'_'.join(rel.parts[2:] if rel.parts[:2] == ('book', 'executed') else rel.parts)}.png"
                chromium(binary, profile, f"--window-size={WINDOW}", "--virtual-time-budget=15000",
                         f"--screenshot={shot}", f"{server.url}/{rel.as_posix()}.html")
                if not shot.is_file() or shot.stat().st_size == 0:
                    problems.append(f"no screenshot written for {rel.as_posix()}.html")
                else:
                    written.append(str(shot.relative_to(ROOT) if shot.is_relative_to(ROOT) else shot))
            stats["screenshots"] = ", ".join(written)
        finally:
            server.close()
            shutil.rmtree(profile, ignore_errors=True)

    print("checked: " + ", ".join(f"{k} {v}" for k, v in stats.items()))
    for p in problems:
        print(f"PROBLEM {p}", file=sys.stderr)
    print("book OK" if not problems else f"{len(problems)} problem(s)", file=sys.stderr if problems else sys.stdout)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

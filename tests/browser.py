"""Open an HTML file in headless Chromium: console errors, what each chart rendered, and a screenshot.

A copy of the page gets a small probe script at the top of its head: it records uncaught errors, failed resource
loads, unhandled promise rejections and ``console.error`` calls, and after load writes, into a ``<pre id="__probe">``,
per ``div.chart`` the traces plotly drew in SVG (once the page sets ``body[data-ready]``, its charts drawn, or after 10 s). Chromium's ``--dump-dom`` prints the DOM with that result. Any
network access is refused (``--host-resolver-rules``), so a page that needs the network fails.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  var t = e.target;
  if (t && t !== window && (t.src || t.href)) { window.__errors.push('failed to load ' + (t.src || t.href)); }
  else { window.__errors.push('uncaught: ' + e.message); }
}, true);
window.addEventListener('unhandledrejection', function (e) { window.__errors.push('unhandled rejection: ' + e.reason); });
(function () { var original = console.error; console.error = function () {
  window.__errors.push('console.error: ' + Array.prototype.slice.call(arguments).join(' ')); original.apply(console, arguments); }; })();
function overlaps(c) {
  // the chart's title (an HTML heading) and its text must not sit under plotly's toolbar or outside the page
  var found = [], bar = c.querySelector('.modebar'), title = c.querySelector('h3');
  if (bar && title) {
    var a = bar.getBoundingClientRect(), b = title.getBoundingClientRect();
    if (a.width && !(a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top)) found.push('title under toolbar');
  }
  if (bar) {
    var m = bar.getBoundingClientRect();
    c.querySelectorAll('.xtick text, .x2tick text, .gtitle').forEach(function (t) {
      var r = t.getBoundingClientRect();
      if (m.width && r.width && !(m.right <= r.left || r.right <= m.left || m.bottom <= r.top || r.bottom <= m.top)) found.push('"' + t.textContent + '" under toolbar');
    });
  }
  return found;
}
function __report() {
  var charts = {};
  document.querySelectorAll('div.chart').forEach(function (c) {
    var plot = c.querySelector('.plotly-graph-div');
    charts[c.getAttribute('data-chart')] = {
      expected: parseInt(c.getAttribute('data-traces'), 10),
      svg: c.querySelectorAll('svg.main-svg').length,
      traces: c.querySelectorAll('.scatterlayer .trace, .barlayer .trace, .heatmaplayer .hm, .boxlayer .trace').length,
      points: c.querySelectorAll('.scatterlayer .trace path.js-line, .scatterlayer .trace .point, .barlayer .point, .heatmaplayer image').length,
      height: plot ? plot.getBoundingClientRect().height : 0,
      data: plot && plot.data ? plot.data.length : -1,
      overlaps: overlaps(c) };
  });
  // tables wider than their box: each must scroll with its first column pinned (position: sticky)
  var tables = [];
  document.querySelectorAll('table').forEach(function (t) {
    var box = t.parentElement, first = t.querySelector('tr > :first-child');
    var cut = t.getBoundingClientRect().width > box.clientWidth + 1 || t.getBoundingClientRect().right > document.documentElement.clientWidth + 1;
    tables.push({cut: cut, scrolls: getComputedStyle(box).overflowX === 'auto',
                 pinned: first ? getComputedStyle(first).position === 'sticky' : false,
                 head: (t.querySelector('th') || {}).textContent || ''});
  });
  var pre = document.createElement('pre'); pre.id = '__probe';
  pre.textContent = JSON.stringify({errors: window.__errors, charts: charts, plotly: typeof Plotly,
    ready: document.body.getAttribute('data-ready'), tables: tables, width: document.documentElement.clientWidth});
  document.body.appendChild(pre);
}
// a report draws its charts once its inlined data is unpacked: wait for body[data-ready] (at most 10 s), then 300 ms
window.addEventListener('load', function () { var waited = 0; (function wait() {
  if (document.body.hasAttribute('data-ready') || waited >= 10000) { setTimeout(__report, 300); }
  else { waited += 50; setTimeout(wait, 50); } })(); });
</script>"""

FLAGS = ["--headless", "--enable-logging=stderr", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=15000", "--hide-scrollbars"]


def find_chromium() -> str | None:
    """The Chromium (or Chrome) executable on PATH, or None. ``CHROMIUM`` overrides."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(chromium: str, args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=180, stdin=subprocess.DEVNULL)


def probe(chromium: str, page: Path, workdir: Path, width: int = 1400) -> dict:
    """Load a probed copy of ``page`` (alone in ``workdir``) in a window ``width`` px wide and return the probe's
    result (errors, per chart what it drew and what overlaps its toolbar, per table whether it is cut and pinned)
    plus Chromium's stderr."""
    html = page.read_text(encoding="utf-8")
    head = html.index("<head>") + len("<head>")
    copy = workdir / page.name
    copy.write_text(html[:head] + PROBE + html[head:], encoding="utf-8")
    done = _run(chromium, [f"--window-size={width},2000", "--dump-dom", copy.as_uri()], workdir / f"profile-dom-{width}")
    start = done.stdout.find('<pre id="__probe">')
    if start < 0:
        raise AssertionError(f"the page never finished loading; chromium said: {done.stderr[-2000:]}")
    text = done.stdout[start + len('<pre id="__probe">'):done.stdout.index("</pre>", start)]
    result = json.loads(text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&"))
    result["stderr"] = done.stderr
    return result


def screenshot(chromium: str, page: Path, workdir: Path, size: str = "1400,2400") -> Path:
    """A PNG screenshot of ``page`` (unmodified, alone in ``workdir``)."""
    copy = workdir / "shot" / page.name
    copy.parent.mkdir(exist_ok=True)
    shutil.copy(page, copy)
    out = workdir / "screenshot.png"
    done = _run(chromium, [f"--screenshot={out}", f"--window-size={size}", copy.as_uri()], workdir / "profile-shot")
    if not out.is_file():
        raise AssertionError(f"no screenshot; chromium said: {done.stderr[-2000:]}")
    return out

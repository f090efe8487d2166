"""Open an HTML file in headless Chromium: console errors, what each chart rendered, and a screenshot.

A copy of the page gets a small probe script at the top of its head: it records uncaught errors, failed resource
loads, unhandled promise rejections and ``console.error`` calls, and after load writes, into a ``<pre id="__probe">``,
per ``div.chart`` the traces plotly drew in SVG. Chromium's ``--dump-dom`` prints the DOM with that result. Any
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
window.addEventListener('load', function () { setTimeout(function () {
  var charts = {};
  document.querySelectorAll('div.chart').forEach(function (c) {
    var plot = c.querySelector('.plotly-graph-div');
    charts[c.getAttribute('data-chart')] = {
      expected: parseInt(c.getAttribute('data-traces'), 10),
      svg: c.querySelectorAll('svg.main-svg').length,
      traces: c.querySelectorAll('.scatterlayer .trace, .barlayer .trace, .heatmaplayer .hm').length,
      points: c.querySelectorAll('.scatterlayer .trace path.js-line, .scatterlayer .trace .point, .barlayer .point, .heatmaplayer image').length,
      height: plot ? plot.getBoundingClientRect().height : 0,
      data: plot && plot.data ? plot.data.length : -1 };
  });
  var pre = document.createElement('pre'); pre.id = '__probe';
  pre.textContent = JSON.stringify({errors: window.__errors, charts: charts, plotly: typeof Plotly});
  document.body.appendChild(pre);
}, 300); });
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


def probe(chromium: str, page: Path, workdir: Path) -> dict:
    """Load a probed copy of ``page`` (alone in ``workdir``) and return the probe's result plus Chromium's stderr."""
    html = page.read_text(encoding="utf-8")
    head = html.index("<head>") + len("<head>")
    copy = workdir / page.name
    copy.write_text(html[:head] + PROBE + html[head:], encoding="utf-8")
    done = _run(chromium, ["--dump-dom", copy.as_uri()], workdir / "profile-dom")
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

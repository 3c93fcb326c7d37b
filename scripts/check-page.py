#!/usr/bin/env python3
"""Renders a report's index.html in headless Chromium (Debian's) and checks it as a reader would
see it: every image loads and shows (naturalWidth > 0), no file the page asks for is missing, the
page logs nothing to the console. Writes a screenshot for a person to look at.

    scripts/check-page.py REPORT_DIR SCREENSHOT.png

Exit 0 when the page is whole, 1 with the reasons when not, 3 when Chromium is missing. The
report is served over HTTP on loopback from a copy (a page of file:// URLs cannot be inspected
from the harness), with a harness page beside it that loads index.html in a frame.
"""
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading

HARNESS = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>check</title></head><body>
<pre id="result">PENDING</pre>
<iframe id="page" src="index.html" style="width:1200px;height:900px"></iframe>
<script>
document.getElementById('page').addEventListener('load', function () {
  var d = this.contentDocument, images = Array.from(d.images);
  var broken = images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
    .map(function (i) { return i.getAttribute('src'); });
  document.getElementById('result').textContent =
    'IMAGES ' + images.length + ' BROKEN ' + broken.length + ' ' + broken.join(' ');
});
</script></body></html>
"""


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[3].strip(), file=sys.stderr)
        return 2
    report, screenshot = sys.argv[1], sys.argv[2]
    browser = chromium()
    if browser is None:
        print("check-page: no chromium: install Debian's chromium (scripts/test.sh does)", file=sys.stderr)
        return 3
    if not os.path.isfile(os.path.join(report, "index.html")):
        print(f"check-page: {report} has no index.html", file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="podbench-page-")
    try:
        site = os.path.join(work, "site")
        shutil.copytree(report, site)
        with open(os.path.join(site, "check-page-harness.html"), "w") as f:
            f.write(HARNESS)
        missing = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=site, **kwargs)

            def log_message(self, *args):
                pass

            def send_error(self, code, message=None, explain=None):
                if not self.path.endswith("/favicon.ico"):  # the browser's own request
                    missing.append(f"{code} {self.path}")
                super().send_error(code, message, explain)

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 f"--user-data-dir={work}/profile", "--enable-logging=stderr", "--v=0",
                 "--virtual-time-budget=10000"]
        # A hang guard, not a speed limit: a page of a few hundred kB loads in seconds.
        dom = subprocess.run(flags + ["--dump-dom", f"{base}/check-page-harness.html"],
                             capture_output=True, text=True, timeout=300)
        shot = subprocess.run(flags + ["--window-size=1200,3000", f"--screenshot={screenshot}",
                                       f"{base}/index.html"], capture_output=True, text=True, timeout=300)
        server.shutdown()
        problems = []
        result = re.search(r"IMAGES (\d+) BROKEN (\d+)([^<]*)", dom.stdout)
        if result is None:
            problems.append(f"the harness did not finish (chromium exit {dom.returncode}): {dom.stderr[-500:]}")
        else:
            images, broken = int(result.group(1)), int(result.group(2))
            if images == 0:
                problems.append("the page has no images")
            if broken:
                problems.append(f"{broken} of {images} images do not show:{result.group(3)}")
        for stream in (dom.stderr, shot.stderr):
            for line in stream.splitlines():
                if ":CONSOLE" in line and "check-page-harness" not in line:
                    problems.append("console: " + line.split("] ", 1)[-1])
        problems += [f"the page asked for a file that is not there: {m}" for m in missing]
        if shot.returncode != 0 or not os.path.isfile(screenshot) or os.path.getsize(screenshot) < 1000:
            problems.append(f"no screenshot (chromium exit {shot.returncode}): {shot.stderr[-500:]}")
        if problems:
            for p in problems:
                print("check-page: " + p, file=sys.stderr)
            return 1
        print(f"check-page: {report}/index.html: {result.group(1)} images, all shown; no console "
              f"message; nothing missing; screenshot {screenshot}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

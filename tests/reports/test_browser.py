"""The report in a real headless Chromium: figures drawn, no console errors, no script injection.

Needs ``/usr/bin/chromium`` (Debian package; ``scripts/test.sh`` installs it). Each run gets a
fresh profile folder under ``tmp_path``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import topologies
from collectives.workload import default_workload
from fabric.catalog import default_catalog
from reports.html import render_report
from studies.capex import CapexPlan, MeasuredPoint
from studies.evaluate import evaluate_fabric

pytestmark = pytest.mark.browser

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]
FIGURES = ("fig-capex", "fig-power", "fig-collective-time", "fig-collective-busbw",
           "fig-utilization", "fig-measured")
PAYLOAD = ("<script>document.title='pwned'</script>"
           "<img src=x onerror=\"document.title='pwned'\">")


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium is not installed: apt-get install -y chromium (scripts/test.sh)")
    return path


def _run(page: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    args = [_chromium(), *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=15000",
            *extra, page.as_uri()]
    return subprocess.run(args, capture_output=True, text=True, timeout=180, check=False)


def _console(stderr: str) -> list[str]:
    """Console messages Chromium logged (``INFO:CONSOLE...`` lines); the report logs none."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def _figure_html(dom: str, fig_id: str) -> str:
    start = dom.index(f'id="{fig_id}"')
    ends = [dom.find(f'id="{other}"', start + 1) for other in FIGURES if other != fig_id]
    ends = [e for e in ends if e > 0] + [dom.find("</section>", start)]
    return dom[start:min(ends)]


@pytest.fixture(scope="module")
def report_file(tmp_path_factory) -> Path:
    sizes = (1024, 1 << 20, 1 << 26)
    fabrics = tuple(
        evaluate_fabric(topologies.for_gpus(family, n), family=family, requested_gpus=n,
                        label=PAYLOAD if family == "rail-optimized" else family,
                        sizes_bytes=sizes, workload=default_workload())
        for family in ("rail-optimized", "rail-only") for n in (64, 128))
    points = tuple(MeasuredPoint(label=PAYLOAD, collective="all-reduce", size_bytes=s,
                                 measured_time_s=1e-5 * (i + 1), predicted_time_s=1.2e-5 * (i + 1),
                                 predicted_low_s=1e-5 * (i + 1), predicted_high_s=1.4e-5 * (i + 1))
                   for i, s in enumerate(sizes))
    plan = CapexPlan(fabrics=fabrics, workload=default_workload(), catalog=default_catalog(),
                       measured=points, title="Fabric capex planning report")
    path = tmp_path_factory.mktemp("report") / "plan.html"
    path.write_text(render_report(plan), encoding="utf-8")
    return path


def test_every_figure_drawn_no_console_errors_no_injection(report_file, tmp_path):
    run = _run(report_file, tmp_path, "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    assert _console(run.stderr) == []
    for fig_id in FIGURES:
        part = _figure_html(dom, fig_id)
        assert '<svg class="main-svg"' in part, fig_id
        # bars draw <path> points, lines draw js-line paths: the traces have SVG content
        marks = len(re.findall(r'class="point"|class="js-line"', part))
        assert marks > 0, fig_id
    # the payload ran nowhere: the title is the report's, and the name shows as text
    assert re.search(r"<title>Fabric capex planning report</title>", dom)
    assert "pwned" not in re.search(r"<title>(.*?)</title>", dom).group(1)
    assert "&lt;script&gt;document.title=" in dom
    assert "<img src=\"x\"" not in dom and "<img src=x" not in dom


def test_screenshot(report_file, tmp_path):
    shot = tmp_path / "report.png"  # kept under the test's tmp_path for a look by hand
    run = _run(report_file, tmp_path, f"--screenshot={shot}", "--window-size=1280,4000",
               "--hide-scrollbars")
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a drawn page, not a blank one


def test_the_checks_can_fail(tmp_path):
    """Control: an executing payload changes the title and a console error is seen."""
    page = tmp_path / "control.html"
    page.write_text("<html><head><title>t</title></head><body>"
                    "<script>document.title='pwned';console.error('boom')</script></body></html>")
    run = _run(page, tmp_path, "--dump-dom")
    assert "<title>pwned</title>" in run.stdout
    assert any("boom" in line for line in _console(run.stderr))

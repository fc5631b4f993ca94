"""The report in a real headless Chromium: figures drawn, labels inside their figures, no console
errors, no script injection.

Needs ``/usr/bin/chromium`` (Debian package; ``scripts/test.sh`` installs it). Each run gets a
fresh profile folder under ``tmp_path``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import topologies
from collectives.workload import default_workload
from fabric.catalog import default_catalog
from reports.html import render_report
from studies.capex import CapexPlan, MeasuredPoint, plan_capex
from studies.evaluate import evaluate_fabric

pytestmark = pytest.mark.browser

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]
FIGURES = ("fig-capex", "fig-power", "fig-cost-scale", "fig-collective-time",
           "fig-collective-busbw", "fig-utilization", "fig-step", "fig-oversubscription",
           "fig-measured")
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
    ends += [dom.find('<pre id="layout-check"', start + 1)]
    ends = [e for e in ends if e > 0] + [dom.find("</section>", start)]
    return dom[start:min(ends)]


def _measured() -> tuple[MeasuredPoint, ...]:
    sizes = (1024, 1 << 20, 1 << 26)
    return tuple(MeasuredPoint(label=PAYLOAD, collective="all-reduce", size_bytes=s,
                               measured_time_s=1e-5 * (i + 1), predicted_time_s=1.2e-5 * (i + 1),
                               predicted_low_s=1e-5 * (i + 1), predicted_high_s=1.4e-5 * (i + 1))
                 for i, s in enumerate(sizes))


@pytest.fixture(scope="module")
def report_file(tmp_path_factory) -> Path:
    sizes = (1024, 1 << 20, 1 << 26)
    fabrics = tuple(
        evaluate_fabric(topologies.for_gpus(family, n), family=family, requested_gpus=n,
                        label=PAYLOAD if family == "rail-optimized" else family,
                        sizes_bytes=sizes, workload=default_workload())
        for family in ("rail-optimized", "rail-only") for n in (64, 128))
    plan = CapexPlan(fabrics=fabrics, workload=default_workload(), catalog=default_catalog(),
                     measured=_measured(), title="Fabric capex planning report")
    path = tmp_path_factory.mktemp("report") / "plan.html"
    path.write_text(render_report(plan), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def full_report(tmp_path_factory) -> Path:
    """A plan with both default workloads, cost vs scale and the oversubscription sweep, two
    collectives (four small charts), the single-hop claim, and the payload as a fabric's
    name."""
    plan = plan_capex([256, 512], ["rail-optimized", "clos", "single-hop"],
                      sizes_bytes=(1024, 1 << 20, 1 << 26),
                      collectives=("all-reduce", "all-to-all"))
    fabrics = tuple(dataclasses.replace(f, label=PAYLOAD) if f.family == "rail-optimized" else f
                    for f in plan.fabrics)
    plan = dataclasses.replace(plan, fabrics=fabrics, measured=_measured())
    path = tmp_path_factory.mktemp("full") / "plan.html"
    path.write_text(render_report(plan), encoding="utf-8")
    return path


#: Runs in the page once plotly has drawn: for every figure, whether its SVG has content, and
#: every tick label and axis title whose box leaves the figure's box (1 px tolerance).
LAYOUT_CHECK = """<script>
setTimeout(function () {
  var out = {figures: {}, outside: [], checked: 0};
  document.querySelectorAll('.js-plotly-plot').forEach(function (fig) {
    var box = fig.getBoundingClientRect();
    out.figures[fig.id] = {width: box.width, height: box.height,
                           svg: fig.querySelectorAll('svg.main-svg path').length};
    var labels = fig.querySelectorAll('g[class$="tick"] > text, g[class^="g-x"][class$="title"]'
                                      + ' text, g[class^="g-y"][class$="title"] text');
    labels.forEach(function (t) {
      var b = t.getBoundingClientRect();
      if (!t.textContent || b.width === 0) { return; }
      out.checked += 1;
      if (b.left < box.left - 1 || b.right > box.right + 1 || b.top < box.top - 1 ||
          b.bottom > box.bottom + 1) {
        out.outside.push(fig.id + ': ' + t.textContent);
      }
    });
  });
  var pre = document.createElement('pre');
  pre.id = 'layout-check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}, 4000);
</script>"""


def _layout_check(page: Path, tmp_path: Path, width: int = 1280) -> dict:
    checked = tmp_path / "checked.html"
    checked.write_text(page.read_text(encoding="utf-8").replace("</body>",
                                                                LAYOUT_CHECK + "</body>"),
                       encoding="utf-8")
    run = _run(checked, tmp_path, "--dump-dom", f"--window-size={width},1000")
    assert run.returncode == 0, run.stderr[-2000:]
    assert _console(run.stderr) == []
    found = re.search(r'<pre id="layout-check">(.*?)</pre>', run.stdout, re.S)
    assert found, "the layout check did not run"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&")
                      .replace("&lt;", "<").replace("&gt;", ">"))


def test_every_figure_drawn_no_console_errors_no_injection(report_file, tmp_path):
    run = _run(report_file, tmp_path, "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    assert _console(run.stderr) == []
    # one workload, no cost ladder or oversubscription study: the figures that need them are left
    # out, every other one is drawn
    for fig_id in set(FIGURES) - {"fig-cost-scale", "fig-oversubscription"}:
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


@pytest.mark.parametrize("width", [1280, 800])
def test_full_report_figures_drawn_and_labels_inside(full_report, tmp_path, width):
    check = _layout_check(full_report, tmp_path, width)
    assert sorted(check["figures"]) == sorted(FIGURES)
    for fig_id, fig in check["figures"].items():
        assert fig["svg"] > 0 and fig["width"] > 300 and fig["height"] > 300, fig_id
    assert check["checked"] > 100  # tick labels and axis titles of nine figures were measured
    assert check["outside"] == []


def test_full_report_every_figure_has_traces(full_report, tmp_path):
    run = _run(full_report, tmp_path, "--dump-dom", "--window-size=1280,1000")
    assert run.returncode == 0, run.stderr[-2000:]
    for fig_id in FIGURES:
        part = _figure_html(run.stdout, fig_id)
        assert len(re.findall(r'class="point"|class="js-line"', part)) > 0, fig_id
    # byte axes in binary units, never plotly's "1k"/"1B" SI labels
    part = _figure_html(run.stdout, "fig-collective-time")
    assert ">1 KiB<" in part and ">1 MiB<" in part and ">1k<" not in part
    # the single-hop claim's table, rendered: a rail-optimized and a single-hop row per scale
    claim = run.stdout[run.stdout.index('<section id="single-hop-claim">'):]
    claim = claim[:claim.index("</section>")]
    assert claim.count("single-hop (hypothetical switch)") == 2 and "break-even" in claim


def test_full_report_screenshot(full_report, tmp_path):
    shot = tmp_path / "full.png"
    run = _run(full_report, tmp_path, f"--screenshot={shot}", "--window-size=1280,9000",
               "--hide-scrollbars")
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 200_000  # a long page of charts, not a blank one


def test_the_checks_can_fail(tmp_path):
    """Control: an executing payload changes the title and a console error is seen."""
    page = tmp_path / "control.html"
    page.write_text("<html><head><title>t</title></head><body>"
                    "<script>document.title='pwned';console.error('boom')</script></body></html>")
    run = _run(page, tmp_path, "--dump-dom")
    assert "<title>pwned</title>" in run.stdout
    assert any("boom" in line for line in _console(run.stderr))


def test_the_layout_check_sees_clipped_labels(report_file, tmp_path):
    """Control: a right axis with no right margin has its labels cut off, and the check says so
    (the report's utilization chart had exactly this fault)."""
    text = report_file.read_text(encoding="utf-8")
    head = text[: text.index("</head>")]
    fig = {"data": [{"x": [1, 2], "y": [1, 2]}, {"x": [1, 2], "y": [10, 90], "yaxis": "y2"}],
           "layout": {"margin": {"l": 0, "r": 0, "t": 10, "b": 0}, "height": 400,
                      "yaxis": {"automargin": False, "title": {"text": "left"}},
                      "yaxis2": {"overlaying": "y", "side": "right", "automargin": False,
                                 "title": {"text": "GPU utilization (%)"}}}}
    page = tmp_path / "clipped.html"
    page.write_text(head + "</head><body><div id='fig-bad'></div><script>Plotly.newPlot("
                    f"'fig-bad', {json.dumps(fig)}.data, {json.dumps(fig)}.layout)</script>"
                    "</body></html>", encoding="utf-8")
    check = _layout_check(page, tmp_path)
    assert check["figures"]["fig-bad"]["svg"] > 0
    assert any(label.startswith("fig-bad: ") for label in check["outside"])


def test_a_racked_fabric_beside_the_families_draws_every_figure(tmp_path):
    # a spec file (here a saved 128-GPU Clos) is planned at its own size: one point per chart
    from topologies.spec import save_spec

    spec = save_spec(topologies.build("clos", num_gpus=128), tmp_path / "racked.yaml")
    plan = plan_capex([256], ["rail-optimized", str(spec)], sizes_bytes=(1024, 1 << 20))
    assert {(f.label, f.requested_gpus) for f in plan.fabrics} == {
        ("rail-optimized", 128), ("rail-optimized", 256), ("racked.yaml", 128)}
    page = tmp_path / "plan.html"
    page.write_text(render_report(plan), encoding="utf-8")
    check = _layout_check(page, tmp_path)
    # no calibration (no measured points) and no family that takes oversubscription
    assert sorted(check["figures"]) == sorted(set(FIGURES) - {"fig-measured",
                                                              "fig-oversubscription"})
    for fig_id, fig in check["figures"].items():
        assert fig["svg"] > 0, fig_id
    assert check["outside"] == []

"""The HTML report: one self-contained file (no script, no font, no image from anywhere), with
the scoreboard, each lab's checks, and for each failed check its story and a sequence diagram
of the conversation (inline SVG, drawn here from the events trace.py recorded).

    ./socklab grade --html        ->  build/grade/labs/report.html (and in every batch report)
"""
from __future__ import annotations

import html
from pathlib import Path

from harness.results import CheckResult, Grading, LabResult, Outcome
from harness.trace import RECVS, SENDS, plural

from .files import write_atomic

LANE = 230      # pixels between two lifelines
ROW = 24        # pixels per event
TOP = 60        # room for the participants' names
LEFT = 70       # room for the times
LABEL = 34      # characters of a label kept

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { font-size: 1.2em; margin-top: 2em; }
.about { color: #555; margin-top: 0; }
table.scores { border-collapse: collapse; margin: 1em 0; }
table.scores td, table.scores th { padding: .25em .9em; border-bottom: 1px solid #ddd;
       text-align: right; } table.scores td:first-child, table.scores th:first-child { text-align: left; }
ul.checks { list-style: none; padding-left: 0; } ul.checks li { margin: .3em 0; }
.pass::before { content: "\\2713  "; color: #2a7d2a; font-weight: bold; }
.fail > details > summary::before { content: "\\2717  "; color: #b3261e; font-weight: bold; }
.skip::before { content: "\\2013  "; color: #888; }
summary { cursor: pointer; } .fail > details > summary { font-weight: 600; }
.name { color: #777; font-size: .85em; font-family: ui-monospace, monospace; }
pre { background: #f6f6f4; border: 1px solid #e2e2dc; padding: .8em; overflow-x: auto;
      font: 13px/1.4 ui-monospace, monospace; white-space: pre-wrap; }
figure { margin: 1em 0; overflow-x: auto; } figcaption { color: #555; font-size: .9em; }
svg text { font: 12px ui-monospace, monospace; }
"""


def report(grading: Grading) -> str:
    """The whole page."""
    title, about = grading.title, grading.about
    out = ["<!doctype html>", '<html lang="en">', '<meta charset="utf-8">',
           f"<title>{esc(title)}</title>", f"<style>{STYLE}</style>", "<body>",
           f"<h1>{esc(title)}</h1>"]
    if about.get("sandbox_detail"):
        out.append(f'<p class="about">{esc(about["sandbox_detail"])}</p>')
    out.append(scores_table(grading))
    for r in grading.labs:
        out.append(lab_section(r))
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def scores_table(grading: Grading) -> str:
    rows = ["<table class=scores>", "<tr><th>lab</th><th>checks</th><th>points</th><th></th></tr>"]
    totals = grading.totals
    total, maximum = totals.score, totals.max_score
    for r in grading.labs:
        pct = f"{100 * r.score / r.max_score:.0f}%" if r.max_score else ""
        note = f" ({r.problem})" if r.problem else ""
        rows.append(f'<tr><td><a href="#{esc(r.lab)}">{esc(r.lab)}</a>{note}</td>'
                    f"<td>{r.passed}/{len(r.checks)}</td><td>{r.score:g}/{r.max_score:g}</td>"
                    f"<td>{pct}</td></tr>")
    pct = f"{100 * total / maximum:.0f}%" if maximum else ""
    rows.append(f"<tr><th>total</th><td></td><th>{total:g}/{maximum:g}</th><th>{pct}</th></tr>")
    return "\n".join(rows + ["</table>"])


def lab_section(r: LabResult) -> str:
    out = [f'<h2 id="{esc(r.lab)}">{esc(r.lab)}: {r.score:g}/{r.max_score:g}</h2>']
    if not r.built:
        out.append(f"<p>It does not compile. The compiler said:</p><pre>{esc(r.build_output[-8000:])}</pre>")
    if r.outcome is Outcome.ERROR:
        out.append("<p>The tests could not run:</p>"
                   f"<pre>{esc(r.error or 'no check was collected')}</pre>")
    out.append("<ul class=checks>")
    for c in sorted(r.checks, key=lambda c: c.outcome != "failed"):  # failures first
        out.append(check_item(c))
    out.append("</ul>")
    return "\n".join(out)


def check_item(c: CheckResult) -> str:
    title = f'{esc(c.title)} <span class=name>{esc(c.name)}</span>'
    if c.outcome is Outcome.PASSED:
        return f"<li class=pass>{title}</li>"
    if c.outcome is Outcome.SKIPPED:
        return f"<li class=skip>{title} (skipped)</li>"
    parts = [f"<li class=fail><details open><summary>{title}</summary>"]
    if c.events:
        parts.append(f"<figure>{sequence_diagram(c.events, c.failed_at, c.failed_step)}"
                     "<figcaption>The conversation: the calls your programs made (from a trace "
                     "of their socket calls) and what the grader's peers did, oldest first. "
                     "Orange: a short read or write; red: an error.</figcaption></figure>")
    parts.append(f"<pre>{esc(c.message)}</pre></details></li>")
    return "\n".join(parts)


# -- the diagram ---------------------------------------------------------------------------------

def sequence_diagram(events: list[dict], failed_at: float = 0.0, failed_step: str = "") -> str:
    """An SVG: a lifeline for each participant, a row for each event. A send is an arrow to
    the participant it talks to; anything else is a mark on its own lifeline."""
    names: list[str] = []
    for e in events:
        if e["who"] not in names:
            names.append(e["who"])
    x = {name: LEFT + LANE // 2 + i * LANE for i, name in enumerate(names)}
    width = LEFT + LANE * len(names) + 240  # room for the labels of the last lifeline
    height = TOP + ROW * (len(events) + 2)
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="sequence diagram">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
           'fill="#333"/></marker></defs>']
    for name, cx in x.items():
        svg.append(f'<rect x="{cx - 70}" y="10" width="140" height="26" rx="4" fill="#eef2f7" '
                   f'stroke="#99a"/><text x="{cx}" y="28" text-anchor="middle" '
                   f'font-weight="bold">{esc(name)}</text>')
        svg.append(f'<line x1="{cx}" y1="36" x2="{cx}" y2="{height - 10}" stroke="#bbb" '
                   'stroke-dasharray="4 4"/>')
    failure_row = None
    for row, e in enumerate(events):
        y = TOP + row * ROW
        if failed_at and failure_row is None and e["t"] > failed_at:
            failure_row = row
        svg.append(f'<text x="6" y="{y + 4}" fill="#888">{e["t"]:.3f}s</text>')
        svg.append(event_svg(e, x, partner(e["who"], names), y))
    if failed_at:
        y = TOP + (failure_row if failure_row is not None else len(events)) * ROW - ROW // 2
        svg.append(f'<line x1="{LEFT - 10}" y1="{y}" x2="{width - 10}" y2="{y}" stroke="#b3261e" '
                   'stroke-width="2" stroke-dasharray="6 3"/>')
        svg.append(f'<text x="{LEFT}" y="{y + 15}" fill="#b3261e" font-weight="bold">'
                   f'{esc(clip("the check failed here: " + failed_step, 90))}</text>')
    svg.append("</svg>")
    return "\n".join(svg)


def partner(who: str, names: list[str]) -> str | None:
    """Whom a participant's sends go to: a program talks to the peer (or to the other program
    when there is no peer); a peer talks to the server (or the first program)."""
    peers = [n for n in names if n.startswith("peer")]
    programs = [n for n in names if not n.startswith("peer")]
    if who.startswith("peer"):
        return next((n for n in programs if n.startswith("server")), programs[0] if programs else None)
    if peers:
        return peers[0]
    return next((n for n in programs if n != who), None)


def event_svg(e: dict, x: dict[str, int], to: str | None, y: int) -> str:
    cx = x[e["who"]]
    colour = "#b3261e" if e["error"] else "#333"
    call, ret, asked = e["call"], e["ret"], e["asked"]
    if call in SENDS and not e["error"] and to is not None and ret > 0:
        short = 0 <= asked and ret < asked
        colour = "#c25e00" if short else "#1f4e9c"
        label = f"{call} {plural(ret, 'byte')}" + (f" of {asked}" if short else "")
        label += f" {e['detail']}" if e["detail"] not in ("", "-") else ""
        x2 = x[to]
        mid = (cx + x2) // 2
        return (f'<line x1="{cx}" y1="{y}" x2="{x2}" y2="{y}" stroke="{colour}" '
                f'stroke-width="1.5" marker-end="url(#arrow)"/>'
                f'<text x="{mid}" y="{y - 4}" text-anchor="middle" fill="{colour}">'
                f'{esc(clip(label, LABEL))}</text>')
    if call in RECVS:
        short = not e["error"] and 0 < ret and 0 <= asked and ret < asked and \
            not e["who"].startswith("peer")
        colour = "#b3261e" if e["error"] else "#c25e00" if short else "#2a7d2a"
        if e["error"]:
            label = f"{call}: {e['error']}"
        elif ret == 0:
            label = f"{call} = 0: end of stream"
        else:
            label = f"{call} got {ret}" + (f" of {asked}" if asked >= 0 else "")
            label += f" {e['detail']}" if e["detail"] not in ("", "-") else ""
        return (f'<circle cx="{cx}" cy="{y}" r="4" fill="{colour}"/>'
                f'<text x="{cx + 8}" y="{y + 4}" fill="{colour}">{esc(clip(label, LABEL))}</text>')
    label = call if e["detail"] in ("", "-") else f"{call} {e['detail']}"
    if e["error"]:
        label += f": {e['error']}"
    return (f'<rect x="{cx - 3}" y="{y - 3}" width="6" height="6" fill="{colour}"/>'
            f'<text x="{cx + 8}" y="{y + 4}" fill="{colour if e["error"] else "#555"}">'
            f'{esc(clip(label, LABEL))}</text>')


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def esc(text: str) -> str:
    """Text for HTML, from anything a program printed: escaped, and without the control
    characters HTML cannot hold."""
    return html.escape("".join(c if c in "\n\t" or c.isprintable() else f"\\x{ord(c):02x}"
                               for c in str(text)))


def write(grading: Grading, out: Path) -> Path:
    path = out / "report.html"
    write_atomic(path, report(grading))
    return path

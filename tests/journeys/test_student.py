"""The student's journey (README.md), from a fresh clone: grade, check, check --html seen in a
browser, and watch in a terminal. The student's lab 01 is first a copy of the reference
(full marks), then the same with one classic mistake (points lost, and shown)."""
import os
import re
import select
import shutil
import signal
import subprocess
import time

import pytest

from .journey import apply_mutant, caught_by, doc_command, doc_inline, full_marks, \
    lost_points, scoreboard_row

LAB = "01-tcp-basic"
MUTANT = "server-logs-its-own-address"


@pytest.mark.timeout(900)
def test_student(journey):
    course = journey.clone()
    readme = course / "README.md"
    lab = course / "labs" / LAB
    shutil.rmtree(lab)
    shutil.copytree(course / "solutions" / LAB, lab)

    # The README's first command: every lab (the others are untouched skeletons, 0 points).
    grade = doc_command(readme, r"^\./socklab grade$")
    out = journey.run(grade, course, timeout=400, expect=(0, 1))
    journey.expect(full_marks(scoreboard_row(out, LAB)),
                   f"the reference copied into labs/{LAB} should get full marks", out)
    check = doc_inline(readme, rf"^\./socklab check {LAB}$")
    journey.run(check, course, timeout=300)  # every check passes: exit status 0

    apply_mutant(course, lab, LAB, MUTANT)
    out = journey.run(doc_command(readme, rf"^\./socklab grade {LAB}$"), course, timeout=300,
                      expect=(1,))
    journey.expect(lost_points(scoreboard_row(out, LAB)),
                   f"one mistake ({MUTANT}) in labs/{LAB} should lose points", out)
    catchers = caught_by(course, LAB, MUTANT)
    html_check = doc_inline(readme, r"^\./socklab check LAB --html$").replace("LAB", LAB)
    out = journey.run(html_check, course, timeout=300, expect=(1,))
    journey.expect(any(name in out for name in catchers),
                   f"the checks that catch {MUTANT} ({', '.join(catchers)}) should fail", out)
    report = re.search(r"diagram of each failed check: (\S+)", out)
    journey.expect(report is not None, "check --html names no report.html", out)
    see_in_browser(journey, course / report.group(1), catchers)

    watch_in_terminal(journey, course, doc_inline(readme, rf"^\./socklab watch {LAB}$"))


def see_in_browser(journey, report, catchers):
    """report.html as headless chromium renders it: its DOM must list a check that catches
    the mistake as failed; a screenshot is kept with the journey's logs."""
    browser = ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]
    dom = journey.run([*browser, f"--user-data-dir={journey.path('chromium-dom')}",
                       "--dump-dom", report.as_uri()], report.parent, timeout=120)
    failed = re.findall(r'<li class="fail">.*?<span class="name">([^<]+)</span>', dom, re.DOTALL)
    journey.expect(any(name.split("[")[0] in catchers for name in failed),
                   f"the rendered report should show {' or '.join(catchers)} failed; it shows "
                   f"failed: {failed}", dom)
    shot = journey.logs / "report.png"
    journey.run([*browser, f"--user-data-dir={journey.path('chromium-shot')}",
                 "--window-size=1280,1600", f"--screenshot={shot}", report.as_uri()],
                report.parent, timeout=120)
    assert shot.stat().st_size > 0, "chromium made no screenshot of report.html"


class Terminal:
    """A tmux server of the journey's own (its socket -L NAME), with one window."""

    def __init__(self, journey, cwd):
        self.journey = journey
        self.cwd = cwd
        self.socket = f"socklab-journey-{os.getpid()}-{time.monotonic_ns()}"

    def tmux(self, *args, timeout=10):
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args],
                              capture_output=True, text=True, timeout=timeout)

    def start(self, command):
        # The server keeps the window when the command ends, to read its last screen.
        self.journey.run(["tmux", "-L", self.socket, "-f", "/dev/null", "new-session", "-d",
                          "-s", "journey", "-x", "150", "-y", "50", "-c", str(self.cwd),
                          command, ";", "set-option", "-t", "journey", "remain-on-exit",
                          "on"], self.cwd, timeout=30)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-t", "journey", "-S", "-500").stdout

    def wait_for(self, pattern, timeout, after=0) -> str:
        """The screen, once pattern shows on it (beyond its first `after` characters)."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if re.search(pattern, screen[after:], re.MULTILINE):
                return screen
            if time.monotonic() > deadline:
                (self.journey.logs / "terminal.txt").write_text(screen)
                raise AssertionError(
                    f"the terminal did not show {pattern!r} within {timeout} s; its screen "
                    f"(kept in {self.journey.logs / 'terminal.txt'}) ends:\n"
                    + "\n".join(f"    | {line}" for line in screen.rstrip().splitlines()[-15:]))
            time.sleep(0.3)  # polling a screen: there is no event to wait for

    def close(self):
        """Stops the tmux server and waits until it has gone: kill-server only asks it to, and
        on a busy machine it may still be there when the journey counts what is left."""
        pid = self.tmux("display-message", "-p", "#{pid}").stdout.strip()
        try:
            gone = os.pidfd_open(int(pid)) if pid.isdigit() else None
        except ProcessLookupError:
            gone = None
        self.tmux("kill-server")
        if gone is not None:  # readable once the process has ended
            try:
                if not select.select([gone], [], [], 10)[0]:
                    signal.pidfd_send_signal(gone, signal.SIGKILL)
            finally:
                os.close(gone)


def watch_in_terminal(journey, course, watch):
    """./socklab watch in a terminal: its first round shows the mistake; saving the
    reference's server.c re-grades on screen, all passing; Ctrl-C stops it and leaves
    nothing running."""
    terminal = Terminal(journey, course)
    try:
        terminal.start(watch)
        screen = terminal.wait_for(r"watching for the next save", 240)
        assert re.search(rf"{LAB}: \d+ checks? pass, then \S+ fails", screen), \
            f"watch's first round should show the mistake failing; the screen:\n{screen}"
        seen = len(screen.rstrip())
        shutil.copy(course / "solutions" / LAB / "server.c", course / "labs" / LAB / "server.c")
        screen = terminal.wait_for(rf"saved server\.c(.|\n)*{LAB}: all \d+ checks pass"
                                   r"(.|\n)*watching for the next save", 240, after=seen)
        terminal.tmux("send-keys", "-t", "journey", "C-c")
        screen = terminal.wait_for(r"socklab watch: stopped", 60)
        deadline = time.monotonic() + 30
        while terminal.tmux("display-message", "-p", "-t", "journey",
                            "#{pane_dead}").stdout.strip() != "1":
            assert time.monotonic() < deadline, "watch did not exit after Ctrl-C"
            time.sleep(0.2)  # the pane's end has no event we can wait on from here
        (journey.logs / "terminal.txt").write_text(terminal.screen())
        left = [p for p in journey.leftovers() if terminal.socket not in p]
        assert not left, "after Ctrl-C, watch left running:\n  " + "\n  ".join(left)
    finally:
        terminal.close()

"""The harness's own tests: what every lab's tests rely on."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from harness import valgrind
from harness.checks import CheckFailure, read_program_file, show
from harness.process import Proc
from harness.results import CheckResult, Grading, LabResult, Outcome
from harness.story import Story
from harness.timing import Deadline, poll_until

from .support import ROOT

CLEAN = """\
==1== FILE DESCRIPTORS: 4 open (3 std) at exit.
==1== Open file descriptor 3: /tmp/x/valgrind-server-1.log
==1==    <inherited from parent>
==1==
==1== All heap blocks were freed -- no leaks are possible
==1== ERROR SUMMARY: 0 errors from 0 contexts (suppressed: 0 from 0)
"""

LEAKY = """\
==2== Invalid write of size 1
==2==    at 0x109A: greet (server.c:120)
==2== FILE DESCRIPTORS: 5 open (3 std) at exit.
==2== Open AF_INET socket 4: 127.0.0.1:5000 <-> 127.0.0.1:41000
==2==    at 0x4A: accept (accept.c:26)
==2==    by 0x10: serve (server.c:140)
==2==
==2==    definitely lost: 1,024 bytes in 2 blocks
==2== ERROR SUMMARY: 1 errors from 1 contexts (suppressed: 0 from 0)
"""


def test_valgrind_clean_report_has_no_problems():
    report = valgrind.parse(CLEAN)
    assert report.finished and report.problems() == []


def test_valgrind_finds_errors_leaks_and_open_sockets():
    problems = valgrind.parse(LEAKY).problems()
    assert len(problems) == 3, problems
    assert "1 memory error" in problems[0]
    assert "1024 bytes definitely lost" in problems[1]
    assert "Open AF_INET socket 4" in problems[2]


def test_valgrind_leak_alone_is_not_called_a_memory_error():
    text = ("==4== 40 bytes in 1 blocks are definitely lost in loss record 1 of 1\n"
            "==4==    definitely lost: 40 bytes in 1 blocks\n"
            "==4== ERROR SUMMARY: 1 errors from 1 contexts (suppressed: 0 from 0)\n")
    problems = valgrind.parse(text).problems()
    assert problems == ["40 bytes definitely lost (memory never freed)"], problems


def test_valgrind_report_without_summary_is_a_problem():
    problems = valgrind.parse("==3== Memcheck, a memory error detector\n").problems()
    assert problems and "did not exit normally" in problems[0]


OFF_BY_ONE = """\
==7== Invalid write of size 1
==7==    at 0x10A742: receive_request (server.c:95)
==7==    by 0x10A742: serve.constprop.0 (server.c:183)
==7==    by 0x10A4DB: main (server.c:227)
==7==  Address 0x4a437b0 is 0 bytes after a block of size 1,024 alloc'd
==7==    at 0x48417B4: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==7==    by 0x10A3D5: main (server.c:222)
==7==
==7== FILE DESCRIPTORS: 5 open (3 std) at exit.
==7== Open AF_INET socket 4: 127.0.0.1:5000 <-> unbound
==7==    at 0x4A: socket (syscall-template.S:120)
==7==    by 0x4B: socket (trace.c:163)
==7==    by 0x10: open_socket (server.c:60)
==7==
==7== ERROR SUMMARY: 4 errors from 1 contexts (suppressed: 0 from 0)
"""


def test_valgrind_first_problem_is_the_first_error_in_the_programs_own_code():
    first = valgrind.parse(OFF_BY_ONE).first_problem({"server.c"})
    assert first.kind == "Invalid write of size 1"
    assert first.where == "server.c:95 (receive_request)"
    assert first.lines[1:4] == ["    at receive_request (server.c:95)",
                                "    by serve.constprop.0 (server.c:183)",
                                "    by main (server.c:227)"], first.lines
    assert any("0 bytes after a block of size 1,024" in line for line in first.lines)
    assert "just past the end" in first.hint and "server.c:95" in first.hint


def test_valgrind_first_problem_without_errors_is_the_open_descriptor():
    """Not an error: the descriptor left open, where the program's own code opened it (the
    harness's tracer, trace.c, between it and the C library, is left out)."""
    descriptor_only = "".join(line + "\n" for line in OFF_BY_ONE.splitlines()[8:])
    report = valgrind.parse(descriptor_only.replace("4 errors", "0 errors"))
    first = report.first_problem({"server.c"})
    assert first.kind.startswith("Open AF_INET socket 4")
    assert first.where == "server.c:60 (open_socket)"
    assert not any("trace.c" in line for line in first.lines), first.lines
    assert "close()" in first.hint


def test_a_marked_check_gets_a_graded_memory_copy(tmp_path, build_dir):
    test_file = tmp_path / "test_copies.py"
    test_file.write_text(textwrap.dedent('''\
        import pytest
        LAB = "01-tcp-basic"

        @pytest.mark.memory
        def test_one(lab):
            """Does one thing."""
            assert lab.settings.valgrind == ("memory" in lab.story.note)
        '''))
    results = tmp_path / "results.json"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "harness.pytest_plugin", str(test_file), "--rootdir", tmp_path,
                           "--build-dir", str(build_dir), "--results", str(results)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout
    grading = Grading.from_json(json.loads(results.read_text()))
    tests = {c.name: c.title for r in grading.labs for c in r.checks}
    assert list(tests) == ["test_one", "test_one[memory]"]
    assert tests["test_one[memory]"].startswith("Does one thing. Memory version: its programs "
                                                "run under valgrind's memcheck")
    assert tests["test_one[memory]"].endswith("[memory]")


def test_show_cuts_long_data_in_the_middle():
    text = show(b"a" * 1000 + b"END")
    assert text.startswith("'aaa") and "END" in text and "1003 bytes in all" in text
    assert show(b"hi\n") == "'hi\\n'"


def test_wait_returns_when_the_program_exits_not_at_the_deadline():
    with Proc("prog", ["sh", "-c", "echo hello; exit 3"]) as proc:
        start = time.monotonic()
        match = proc.wait_for_stdout("never printed", Deadline(10))
        assert match is None
        assert time.monotonic() - start < 5, "waited for the deadline after the program ended"
        assert proc.wait(Deadline(5)) == 3
        assert proc.stdout.text == "hello\n"


def test_wait_for_a_line_times_out_on_a_silent_program():
    with Proc("prog", ["sleep", "30"]) as proc:
        start = time.monotonic()
        assert proc.wait_for_stdout("x", Deadline(0.3)) is None
        assert 0.3 <= time.monotonic() - start < 5
        assert proc.running


def test_kill_takes_the_whole_process_group():
    proc = Proc("prog", ["sh", "-c", "sleep 30 & echo $!; trap '' TERM; sleep 30"])
    match = proc.wait_for_stdout(r"^(\d+)$", Deadline(5))
    grandchild = int(match.group(1))
    proc.kill()
    assert not proc.running
    gone = poll_until(lambda: not os.path.exists(f"/proc/{grandchild}") or
                      "Z" in open(f"/proc/{grandchild}/stat").read().split()[2], Deadline(5))
    assert gone, "a process the program started outlived kill()"


def test_programs_die_with_a_harness_that_is_killed(tmp_path):
    """setpriv --pdeathsig: even a harness killed outright takes its programs with it."""
    script = tmp_path / "harness_run.py"
    script.write_text(textwrap.dedent(f"""\
        import os, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from harness.process import Proc
        from harness.timing import Deadline, poll_until
        p = Proc("sleeper", ["sleep", "60"])
        # setpriv arms the death signal just before it execs the program: wait for the exec
        exe = lambda: os.readlink(f"/proc/{{p.pid}}/exe")
        poll_until(lambda: exe().endswith("/sleep"), Deadline(10))
        print(p.pid, flush=True)
        signal.pause()
        """))
    runner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(runner.stdout.readline())
        assert os.path.exists(f"/proc/{pid}")
    finally:
        runner.kill()
        runner.wait(10)
    assert poll_until(lambda: not os.path.exists(f"/proc/{pid}"), Deadline(5)), \
        "a program outlived the harness that started it"


def test_story_names_the_step_the_todo_and_the_programs_output():
    story = Story()
    story.step("start the server")
    with Proc("server", ["sh", "-c", "echo 'server: TODO step 1: open_listener() is not "
                                     "written yet' >&2; exit 1"]) as proc:
        story.started(proc)
        proc.wait(Deadline(5))
        story.step("connect")
        text = story.render(CheckFailure("should listen", expected="a line", actual="nothing"))
    assert text.startswith("step 2 failed: connect\nTODO: your server stopped at TODO step 1")
    assert "expected: a line" in text and "actual:   nothing" in text
    assert "| server: TODO step 1" in text and "to reproduce" in text


def test_story_says_how_each_program_ended_in_a_students_words():
    """A program the grader stopped did not crash; a crash is named as one."""
    story = Story()
    story.step("run them")
    with Proc("server", ["sleep", "30"]) as stopped, \
            Proc("client", ["sh", "-c", "kill -SEGV $$"]) as crashed, \
            Proc("other", ["sh", "-c", "exit 1"]) as failed:
        for proc in (stopped, crashed, failed):
            story.started(proc)
        crashed.wait(Deadline(5))
        failed.wait(Deadline(5))
        stopped.kill()
        text = story.render(CheckFailure("x"))
    assert "server (still running at the end of the check: stopped by the grader)" in text
    assert "client (crashed: segmentation fault (SIGSEGV)" in text
    assert "other (exited with status 1)" in text
    assert "SIGKILL" not in text


def test_program_output_cannot_drive_the_terminal(tmp_path):
    """Escape sequences a program prints (clear the screen, move the cursor) reach the story,
    the scoreboard and the reports as text: \\x1b, never the byte itself."""
    from grader.render.scoreboard import scoreboard
    story = Story()
    story.step("run it")
    with Proc("server", ["printf", "\\033[2J\\033[Hforged\\n"]) as proc:
        story.started(proc)
        proc.wait(Deadline(5))
        text = story.render(CheckFailure("x", actual="\x1b[2J quoted by a check"))
    assert "\x1b" not in text and "| \\x1b[2J\\x1b[Hforged" in text
    check = CheckResult("test_x", "test_x", 1, Outcome.FAILED, text, 0.1)
    board = scoreboard(Grading("socklab: labs/", labs=[LabResult("01-tcp-basic", checks=[check])]))
    assert "\x1b" not in board and "\\x1b[2J" in board


def test_scoreboard_excerpt_keeps_the_programs_last_words():
    """The terminal's excerpt of a failure shows how each program ended and the last lines
    of its stdout and stderr, where the program's own explanation usually is."""
    from grader.render.scoreboard import excerpt
    story = Story()
    story.step("send a frame")
    with Proc("server", ["sh", "-c", "echo listening; echo 'server: refused a frame of 83886080 "
                                     "bytes' >&2; sleep 30"]) as proc:
        story.started(proc)
        proc.wait_for_stdout("listening", Deadline(5))
        proc.stderr.wait_for(lambda data: b"refused" in data, Deadline(5))
        proc.kill()
        text = story.render(CheckFailure("the reply should be framed", expected="a", actual="b",
                                         hint="ntohl()"))
    lines = excerpt(text)
    assert any("server (still running at the end of the check: stopped by the grader)" in line
               for line in lines)
    assert "    | server: refused a frame of 83886080 bytes" in lines
    assert not any(line.startswith("to reproduce") for line in lines)


def test_plugin_reports_a_check_failure_as_a_story(tmp_path):
    test_file = tmp_path / "test_story.py"
    test_file.write_text(textwrap.dedent("""\
        from harness.checks import expect
        def test_one(story):
            story.step("do the thing")
            expect(False, "the thing should happen", expected="yes", actual="no")
        """))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "harness.pytest_plugin", str(test_file), "--rootdir", tmp_path],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 1, done.stdout
    assert "step 1 failed: do the thing\nthe thing should happen\nexpected: yes" in done.stdout


def test_a_server_that_dies_during_a_test_fails_it(lab_solutions):
    server = lab_solutions.start_server()
    server.proc.signal(signal.SIGKILL)
    server.proc.wait(Deadline(5))
    with pytest.raises(CheckFailure, match="ended during the test"):
        with server:
            pass


def test_settle_tells_waiting_spinning_and_ended_programs_apart():
    """Proc.settle: a program asleep in the kernel is settled at once; one that spins, after a
    quarter of a second of its CPU time (not at the deadline); one that ends, when it has."""
    with Proc("sleeper", ["sleep", "30"]) as sleeper:
        started = time.monotonic()
        assert sleeper.settle(Deadline(10)) is True
        assert time.monotonic() - started < 2
    with Proc("spinner", ["sh", "-c", "while :; do :; done"]) as spinner:
        started = time.monotonic()
        assert spinner.settle(Deadline(10), cpu=0.25) is True
        assert spinner.cpu_seconds() >= 0.2 and time.monotonic() - started < 8
    with Proc("ender", ["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"]) as ender:
        assert ender.settle(Deadline(10), cpu=5) is False


def test_a_server_that_exits_after_its_first_client_fails_every_time(builds, settings, story,
                                                                     tmp_path):
    """The end of a `with lab.start_server()` block settles the server before judging: lab 01's
    serves-one-client, greeted once, is seen to have ended every time, never only sometimes."""
    from harness import peers
    from harness.lab import Lab, Settings
    mutant = Settings(settings.build_dir, "mutant/01-tcp-basic/serves-one-client", False)
    build, error = type(builds)(mutant).get("01-tcp-basic")
    if error:
        pytest.skip(f"the mutant is not built: {error}")
    for n in range(10):
        lab = Lab("01-tcp-basic", build, None, mutant, story, tmp_path / str(n))
        (tmp_path / str(n)).mkdir()
        with pytest.raises(CheckFailure, match="ended during the test") as failure:
            with lab.start_server() as server:
                with peers.connect(server.address, lab.deadline()) as sock:
                    peers.send_all(sock, b"Ada\n", lab.deadline())
                    peers.recv_until_closed(sock, lab.deadline())
        assert "exited with status 0 after its first client" in failure.value.render()


@pytest.fixture
def lab_solutions(builds, settings, story, tmp_path):
    """Lab 01's reference programs, for tests of the Lab object itself."""
    from harness.lab import Lab, Settings
    solutions = Settings(settings.build_dir, "solutions", False)
    build, error = type(builds)(solutions).get("01-tcp-basic")
    if error:
        pytest.skip(f"no lab 01 solution to test with: {error}")
    return Lab("01-tcp-basic", build, None, solutions, story, tmp_path)


# -- short I/O -------------------------------------------------------------------------------

def test_short_io_spec_is_parsed_and_given_back_unchanged():
    from harness.shortio import ShortIO
    assert ShortIO.parse("7") == ShortIO(7, 7) and str(ShortIO.parse("7")) == "7"
    spec = ShortIO.parse("send=3,recv=4096,seed=12")
    assert (spec.send, spec.recv, spec.seed) == (3, 4096, 12)
    assert str(spec) == "send=3,recv=4096,seed=12" and not spec.recv_fixed
    assert str(ShortIO.parse("seed=5,send=2")) == "send=2,seed=5"
    for bad in ["0", "send=", "send=3,send=4", "size=3", "seed=1", "7,recv=3"]:
        with pytest.raises(Exception, match="short-I/O spec"):
            ShortIO.parse(bad)


SHIM_PROBE = """\
import os, socket
def ok(f):
    try:
        return f()
    except BlockingIOError:  # nothing left to read
        return -1
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
d, e = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
b.setblocking(False)
iov = [b"hello, ", b"world!!!!"]
out = [a.send(b"x" * 100), a.sendmsg(iov), os.writev(a.fileno(), iov), os.write(a.fileno(), b"y" * 50)]
buf1, buf2 = bytearray(100), bytearray(100)
out += [ok(lambda: b.recv_into(buf1)), ok(lambda: b.recvmsg_into([buf1, buf2])[0]),
        ok(lambda: os.readv(b.fileno(), [buf1, buf2])), ok(lambda: len(os.read(b.fileno(), 100)))]
out += [d.send(b"z" * 100), len(e.recv(200))]
print(out, iov)
"""


@pytest.mark.parametrize("spec, expected", [
    ("", [100, 16, 16, 50, 100, 82, -1, -1, 100, 100]),  # nothing cut (-1: nothing left)
    ("send=3,recv=5", [3, 3, 3, 3, 5, 5, 2, -1, 100, 100]),  # datagrams are never cut
    ("recv=4", [100, 16, 16, 50, 4, 4, 4, 4, 100, 100]),
])
def test_shim_cuts_sends_and_recvs_apart_on_stream_sockets_only(build_dir, spec, expected):
    """Python's socket calls go through libc, so the shim sees send, sendmsg, writev, write,
    recv, recvmsg, readv and read; the caller's iovecs are never changed."""
    shim = build_dir / "libsocklab_shortio.so"
    if not shim.exists():
        pytest.skip(f"{shim} is not built")
    done = subprocess.run([sys.executable, "-c", SHIM_PROBE], capture_output=True, text=True,
                          timeout=30, env={**os.environ, "LD_PRELOAD": str(shim),
                                           "SOCKLAB_SHORT_IO": spec})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{expected} [b'hello, ', b'world!!!!']"


def test_shim_with_a_seed_varies_each_cap_the_same_way_every_run(build_dir):
    shim = build_dir / "libsocklab_shortio.so"
    if not shim.exists():
        pytest.skip(f"{shim} is not built")
    runs = [subprocess.run([sys.executable, "-c", SHIM_PROBE], capture_output=True, text=True,
                           timeout=30, env={**os.environ, "LD_PRELOAD": str(shim),
                                            "SOCKLAB_SHORT_IO": "send=4,seed=42"}).stdout
            for _ in range(2)]
    assert runs[0] == runs[1] and runs[0], runs
    sent = json.loads(runs[0].split("]")[0] + "]")[:4]
    assert all(1 <= n <= 4 for n in sent) and len(set(sent)) > 1, sent


def test_a_marked_check_gets_a_graded_partial_io_copy(tmp_path, build_dir):
    test_file = tmp_path / "test_copies.py"
    test_file.write_text(textwrap.dedent("""\
        import pytest
        LAB = "01-tcp-basic"

        @pytest.mark.short_io("send=3,seed=9")
        @pytest.mark.parametrize("n", [1, 2])
        def test_one(lab, n):
            '''Does one thing.'''
            assert lab.settings.short_io is None or str(lab.settings.short_io) == "send=3,seed=9"
        """))
    results = tmp_path / "results.json"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "harness.pytest_plugin", str(test_file), "--rootdir", tmp_path,
                           "--build-dir", str(build_dir), "--results", str(results)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout
    grading = Grading.from_json(json.loads(results.read_text()))
    tests = {c.name: c.title for r in grading.labs for c in r.checks}
    assert list(tests) == ["test_one[1]", "test_one[2]", "test_one[1-short-io]",
                           "test_one[2-short-io]"]
    assert tests["test_one[1-short-io]"] == ("Does one thing. Partial-I/O version: each send() "
                                             "moves 1-3 bytes (SOCKLAB_SHORT_IO=send=3,seed=9). "
                                             "[1-short-io]")
    assert tests["test_one[2]"] == "Does one thing. [2]"  # parametrized: a name of its own


def test_a_file_a_program_wrote_is_read_without_following_its_links(tmp_path):
    """A program could plant a link where a check reads its output, pointing at a solution
    or a hidden test: the check must never quote what the link points at."""
    secret = tmp_path / "secret.txt"
    secret.write_text("the solution's code")
    folder = tmp_path / "check"
    (folder / "real").mkdir(parents=True)
    (folder / "out.bin").symlink_to(secret)
    (folder / "linked").symlink_to(tmp_path)
    (folder / "real" / "out.bin").write_bytes(b"mine")
    assert read_program_file(folder / "out.bin") is None
    assert read_program_file(folder / "linked" / "secret.txt") is None
    assert read_program_file(folder / "real" / "out.bin") == b"mine"
    assert read_program_file(folder / "missing") is None
    with pytest.raises(CheckFailure):
        read_program_file(folder / "real")


def test_a_program_that_prints_without_end_does_not_fill_the_graders_memory():
    proc = Proc("spew", ["sh", "-c", "head -c 50000000 /dev/zero"])
    assert proc.wait(Deadline(30)) == 0
    assert len(proc.stdout.data) == proc.stdout.KEPT and proc.stdout.dropped > 0


def test_the_harness_never_imports_the_grader():
    """Dependencies go one way: grader/ imports harness/, never the reverse (but the two entry
    points that hand `python3 -m harness ...` over to it). And the front names only what is."""
    import ast
    import harness
    entry_points = {"__main__.py", "doccheck.py"}
    for path in sorted((ROOT / "harness").glob("*.py")):
        if path.name in entry_points:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not [n for n in names if n.split(".")[0] == "grader"], \
                f"harness/{path.name} imports the grader"
    assert all(hasattr(harness, name) for name in harness.__all__)


def test_how_a_stream_ended_reads_as_a_word():
    """A check's message says "then eof", never "then Ended.EOF"; expect_equal shows the word."""
    from harness import Ended, expect_equal
    assert f"then {Ended.EOF}, {Ended.RESET}" == "then eof, reset"
    with pytest.raises(CheckFailure) as failure:
        expect_equal(Ended.TIMEOUT, Ended.EOF, "the peer should close")
    assert (failure.value.expected, failure.value.actual) == ("'eof'", "'timeout'")


def test_a_peers_send_is_noted_when_it_began_and_a_failed_one_says_why():
    """The program may receive a peer's bytes before the peer's send() returns: the
    conversation must not show the reply received before it was sent. Here the send
    blocks until a slow reader (the behaviour under test) drains it, 0.3 s later."""
    import socket
    import threading
    from harness import trace
    conversation = trace.begin()
    a, b = socket.socketpair()
    peer = trace.TracedSocket(fileno=a.detach())
    drained = threading.Event()

    def slow_reader():
        time.sleep(0.3)  # the behaviour under test: a reader late enough that the send blocks
        got = 0
        while got < 4 << 20:
            got += len(b.recv(1 << 20))
        drained.set()

    reader = threading.Thread(target=slow_reader, daemon=True)
    try:
        before = conversation.now()
        reader.start()
        peer.sendall(b"x" * (4 << 20))
        returned = conversation.now()
        assert drained.wait(10)
        b.close()
        with pytest.raises(OSError):
            for _ in range(100):  # the first send after the close may still be buffered
                peer.send(b"more")
    finally:
        peer.close()
        b.close()
    sends = [e for e in conversation.events() if e.who == "peer" and e.call == "send"]
    assert returned - before >= 0.25, "the send did not block: nothing was tested"
    assert sends[0].t - before < 0.2, (sends[0].t, before, returned)
    assert sends[-1].text().startswith("tries to send 4 bytes: E"), sends[-1].text()

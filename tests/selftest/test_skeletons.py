"""Each skeleton in labs/ compiles, and fails every test of its lab quickly, with a message
that names the TODO step where the student's program stopped."""
from .support import run_lab_tests

FAST = 5.0  # seconds: the acceptance bound for a skeleton's failure


def test_skeleton_fails_every_test_fast_naming_the_step(lab_name, build_dir, tmp_path):
    run = run_lab_tests(lab_name, "labs", build_dir, tmp_path)
    assert run.tests, f"no results from the lab's tests:\n{run.output[-3000:]}"
    passed = [name for name, t in run.tests.items() if t["outcome"] != "failed"]
    assert not passed, f"the untouched skeleton of {lab_name} passes {passed}: a test that " \
                       "passes before the student writes anything checks nothing of theirs"
    slow = {name: round(t["duration"], 2) for name, t in run.tests.items()
            if t["duration"] >= FAST}
    assert not slow, f"these tests took {FAST} s or more to fail on the skeleton: {slow}"
    unnamed = [name for name, t in run.tests.items() if "TODO step" not in t["message"]]
    assert not unnamed, f"these failures do not name a TODO step: {unnamed}\n" + \
        "\n\n".join(run.tests[n]["message"][:1500] for n in unnamed[:2])

"""Variants prove the tests do not over-fit the reference: each is a solution that makes
another reasonable choice (tests/variants/LAB/NAME.patch: inet_pton for numeric hosts,
SIGPIPE ignored instead of MSG_NOSIGNAL, sendmsg with two iovecs, other buffer sizes, other
wording on stderr...), and it must pass every test of its lab, as the solution does.

A patch starts with header lines that patch(1) ignores:
    Choice: what the variant does differently, and why that is valid
    Options: --short-io 7      (optional: also run the whole lab this way)
"""
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import programs

from .support import ROOT, labs_with_tests, run_lab_tests

VARIANTS = ROOT / "tests" / "variants"
PARALLEL = 2
pytestmark = pytest.mark.timeout(1800)


def header(patch: Path) -> dict[str, str]:
    fields = {}
    for line in patch.read_text().splitlines():
        if line.startswith("--- "):
            break
        if m := re.match(r"^(Choice|Options): *(.*)$", line):
            fields[m.group(1)] = m.group(2).strip()
    return fields


def chosen_variants(config) -> list[Path]:
    labs = config.getoption("--lab") or labs_with_tests()
    return [p for lab in labs for p in sorted((VARIANTS / lab).glob("*.patch"))]


def pytest_generate_tests(metafunc):
    if "variant" in metafunc.fixturenames:
        found = chosen_variants(metafunc.config)
        metafunc.parametrize("variant", found, ids=[f"{p.parent.name}/{p.stem}" for p in found])


def built_impls(build_dir: Path) -> set[str]:
    return {b.impl for b in programs.read_manifest(build_dir)}


def run_variant(variant: Path, build_dir: Path, tmp_path: Path):
    lab, name = variant.parent.name, variant.stem
    if f"variant/{lab}/{name}" not in built_impls(build_dir):
        return []
    modes = [[]]
    if options := header(variant).get("Options"):
        modes.append(options.split())
    return [(mode, run_lab_tests(lab, f"variant/{lab}/{name}", build_dir, tmp_path, *mode,
                                 timeout=900)) for mode in modes]


@pytest.fixture(scope="module")
def variant_runs(request, settings, tmp_path_factory):
    """Every chosen variant's runs, two at a time (each runs a whole lab module)."""
    found = chosen_variants(request.config)
    tmp_path_factory.getbasetemp()  # made here, once: threads racing to make it get different ones
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        runs = pool.map(lambda v: run_variant(v, settings.build_dir, tmp_path_factory.mktemp(v.stem)),
                        found)
        return dict(zip(found, runs))


def test_variant_keeps_full_marks(variant, build_dir, variant_runs):
    fields = header(variant)
    assert fields.get("Choice"), f"{variant.name} needs a 'Choice:' header line"
    lab, name = variant.parent.name, variant.stem
    assert f"variant/{lab}/{name}" in built_impls(build_dir), \
        f"{variant.name} was not built: it no longer applies to solutions/{lab} (cmake warned)"
    for mode, run in variant_runs[variant]:
        how = " ".join(mode) or "plain"
        assert run.tests, f"variant {lab}/{name} ({how}): no test ran\n{run.output[-2000:]}"
        lost = {n: t for n, t in run.tests.items() if t.outcome not in ("passed", "skipped")}
        assert not lost, (f"variant {lab}/{name} ({fields['Choice']}) loses marks ({how}) on "
                          f"{sorted(lost)}: the check over-fits the reference\n" +
                          next(iter(lost.values())).message[:2000])

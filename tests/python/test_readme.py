"""test_readme.py - the README's Python blocks marked
`<!-- tested: tests/python/test_readme.py ... -->` run as written, each in
its own interpreter, in the folder of the test collection (its store is the
default ./.mediagrep, its photos under media/), after the two exports the
FAISS example names (`mediagrep export --out export`, `--format npy --out
vecs`). Each must exit 0 and print something; the searches by the photo
a.jpg must name it first.
"""
import os
import re
import subprocess
import sys

import pytest

from conftest import SRC, run_cli

MARK = "<!-- tested: tests/python/test_readme.py"


def readme_blocks():
    text = open(os.path.join(SRC, "README.md"), encoding="utf-8").read()
    blocks = []
    for m in re.finditer(re.escape(MARK) + r"[^\n]*-->\n```python\n(.*?)\n```", text, re.S):
        blocks.append(m.group(1))
    return blocks


def test_readme_has_tested_blocks():
    assert len(readme_blocks()) >= 3
    assert readme_blocks()[0].count("\n") > 5


@pytest.fixture(scope="module")
def exported(world):
    run_cli("export", "--out", "export", cwd=world["root"])
    run_cli("export", "--out", "vecs", "--format", "npy", cwd=world["root"])
    return world


@pytest.mark.parametrize("i", range(len(readme_blocks())))
def test_readme_block_runs(exported, i):
    code = readme_blocks()[i]
    env = dict(os.environ, PYTHONPATH=os.path.join(SRC, "python"))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=exported["root"], env=env)
    assert p.returncode == 0, "README block %d failed:\n%s\n%s" % (i, code, p.stderr)
    assert p.stdout.strip(), "README block %d printed nothing" % i
    if 'image="media/photos/a.jpg"' in code:
        assert os.path.join(exported["root"], "media", "photos", "a.jpg") in p.stdout

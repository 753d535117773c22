"""The claims engine imports without torch: a child interpreter blocks ``torch`` and imports every engine module;
of the core only its torch-free writers (``bilevel.io``, ``bilevel.rundir``) come along."""

from __future__ import annotations

import subprocess
import sys

_CHILD = r"""
import importlib, pkgutil, sys
sys.modules["torch"] = None  # any "import torch" now raises ImportError
import validation
import validation.engine as engine
names = [m.name for m in pkgutil.walk_packages(engine.__path__, "validation.engine.")]
for name in names:
    importlib.import_module(name)
assert "torch" not in [k for k, v in sys.modules.items() if v is not None], "torch was imported"
# only the torch-free writers of the core (atomic files, run directories) may come along
core = sorted(k for k in sys.modules if k == "bilevel" or k.startswith("bilevel."))
assert core == ["bilevel", "bilevel.io", "bilevel.rundir"], core
print(len(names))
"""


def test_engine_imports_without_torch() -> None:
    res = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert int(res.stdout.strip()) >= 10

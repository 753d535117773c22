"""The claims engine imports without torch: a child interpreter blocks ``torch`` and imports every engine module."""

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
assert not any(k == "bilevel" or k.startswith("bilevel.") for k in sys.modules), "bilevel was imported"
print(len(names))
"""


def test_engine_imports_without_torch() -> None:
    res = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert int(res.stdout.strip()) >= 10

"""`transformers` is an optional extra: fastlearn and its other applications import and run
without it, and the transformers path says how to install it. These tests need neither
transformers nor the MiniLM weights (the module is hidden with `sys.modules[...] = None`)."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import fastlearn.text

TEXT_DIR = Path(fastlearn.text.__file__).parent
INSTALL = "pip install 'fastlearn[transformers]'"


def run_without_transformers(code: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter where `import transformers` fails."""
    prelude = "import sys\nsys.modules['transformers'] = None  # import transformers fails\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_fastlearn_and_other_applications_work_without_transformers():
    pytest.importorskip("pandas")
    result = run_without_transformers("""
        import torch
        torch.set_num_threads(1)
        import fastlearn, fastlearn.tabular, fastlearn.collab, fastlearn.text
        import fastlearn.text.hf.learner, fastlearn.text.hf.parts  # light: imports nothing
        from torch.utils.data import TensorDataset
        from fastlearn import DataLoaders, Learner, set_seed
        from fastlearn.text import WordTokenizer

        set_seed(0)
        x = torch.randn(64, 3)
        y = x @ torch.tensor([1.0, -2.0, 0.5])
        dls = DataLoaders.from_dsets(TensorDataset(x, y), TensorDataset(x, y), bs=16,
                                     device="cpu")
        model = torch.nn.Linear(3, 1)
        mse = lambda: float(((model(x)[:, 0] - y) ** 2).mean())
        learn = Learner(dls, model, loss_func=lambda p, t: ((p[:, 0] - t) ** 2).mean(),
                        lr=0.1, show_progress=False)
        before = mse()
        learn.fit(5)
        after = mse()
        assert after < before / 10, (before, after)
        assert WordTokenizer()("Hello world.")[-2:] == ["world", "."]
        loaded = [m for m in ("transformers", "tokenizers") if sys.modules.get(m) is not None]
        assert not loaded, loaded
        print("ok", before, after)
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ok")


def test_the_transformers_path_says_how_to_install_it():
    pytest.importorskip("pandas")
    result = run_without_transformers("""
        import pandas as pd
        from fastlearn.text import HFTextDataLoaders, load_from_parts
        from fastlearn.text.hf.load import load_classifier, require_transformers

        df = pd.DataFrame({"text": ["a", "b"], "label": [0, 1]})
        for call in (require_transformers,
                     lambda: HFTextDataLoaders.from_df(df, "text", "label",
                                                       tokenizer="bert-base-uncased"),
                     lambda: load_classifier("bert-base-uncased", 2)):
            try:
                call()
            except ImportError as e:
                print("ImportError:", e)
            else:
                print("no error")
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("ImportError:") for line in lines), lines
    assert all(INSTALL in line for line in lines)


def test_transformers_is_imported_only_inside_functions():
    """No module of the transformers path imports `transformers` at module level."""
    modules = sorted((TEXT_DIR / "hf").glob("*.py"))
    assert {"data.py", "load.py", "tokenize.py", "learner.py"} <= {m.name for m in modules}
    for module in modules:
        tree = ast.parse(module.read_text())
        top = [
            n
            for n in tree.body
            if isinstance(n, ast.Import) or (isinstance(n, ast.ImportFrom) and n.level == 0)
        ]  # not `from .learner`
        names = {n.module for n in top if isinstance(n, ast.ImportFrom)} | {
            a.name for n in top if isinstance(n, ast.Import) for a in n.names
        }
        assert not any(
            str(name).split(".")[0] in ("transformers", "tokenizers") for name in names
        ), module

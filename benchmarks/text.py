"""Text (ULMFiT) speed: fastlearn against fastai 2.8 and against a hand-written PyTorch loop.

1. Tokenization + numericalization of imdb_sample (1,000 reviews) and of WikiText-2 train:
   fastlearn's rule-based tokenizer (2 worker processes) + Vocab, against fastai's default
   path (`tokenize_df`: spaCy's English tokenizer `spacy.blank("en")` with the same rules, 2
   workers, then `Numericalize`), both min_freq 3, max_vocab 60,000. Target: >= 5x faster.
2. Language-model training throughput (tokens/s, training phase only) of the same AWD-LSTM
   config and batch size: fastlearn's `language_model_learner` against a hand-written loop on
   the same model (same initial weights) and the same batches (AR/TAR included in both), and
   against fastai's `language_model_learner`. Targets: <= 1.05x the hand loop's time, not
   slower than fastai. Measured in pairs (fastlearn and the hand loop back to back in this
   process, alternating which goes first): the median and quartiles of the per-pair ratios.
3. Classifier epoch time (training + validation) of the ULMFiT classifier on imdb_sample,
   fastlearn against fastai with the same config, batch size and seq_len.
4. Building language-model loaders from 5,000 IMDb reviews (imdb_sample's 1,000 reviews,
   ~250 words each, repeated 5 times): `TextDataLoaders.from_df(df, 'text', is_lm=True,
   valid_pct=0.1, bs=64, seq_len=72, n_workers=2)` (a DataBlock with a TextBlock) against
   fastai's same call, each in a fresh process (imports not timed), alternating: wall clock,
   CPU time of the process and its tokenizer workers (steadier than wall clock on a shared
   machine), and wall clock to the first batch. Target: >= 5x faster. Run with
   PYTHONPATH=<other checkout>/src to time another version of fastlearn the same way.

    python benchmarks/text.py [--repeats 2] [--batches 16] [--pairs 9] [--no-fastai] [--write]
    python benchmarks/text.py --only build [--repeats 3] [--reviews 5000]

fastai runs in `.venv-fastai` (bash benchmarks/setup_fastai_env.sh), in a subprocess; its
columns are skipped with a note when that environment is missing. `--write` replaces the
`## Text` section of docs/benchmarks.md with the tables printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
FASTAI_PY = ROOT / ".venv-fastai" / "bin" / "python"
CONFIG = {"emb_sz": 128, "n_hid": 384, "n_layers": 2}  # examples/text_common.SMALL
BS, SEQ_LEN = 32, 64

FASTAI_TOKENIZE = """
import json, sys, time, pandas as pd
from fastai.text.all import L, Numericalize, tokenize_df
if sys.argv[2] == 'none':
    df = pd.read_csv(sys.argv[1], header=None, names=['text'])
else:
    df = pd.read_csv(sys.argv[1])[['text']]
start = time.perf_counter()
tok_df, _ = tokenize_df(df, 'text', n_workers=2)
texts = [list(t) for t in tok_df['text']]
num = Numericalize(min_freq=3, max_vocab=60000)
num.setup(L(texts))
ids = [num(t) for t in texts]
print(json.dumps({'seconds': time.perf_counter() - start, 'tokens': sum(len(t) for t in ids),
                  'vocab': len(num.vocab)}))
"""

BUILD_LM = """
import json, resource, sys, time, pandas as pd
def cpu():  # this process and its finished children (the tokenizer's workers), user + sys
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime
df = pd.read_csv(sys.argv[1])[['text']]
df = pd.concat([df] * (int(sys.argv[2]) // len(df) + 1), ignore_index=True).iloc[:int(sys.argv[2])]
if sys.argv[3] == 'fastai':
    from fastai.text.all import TextDataLoaders
    kw = dict(text_col='text')
else:
    from fastlearn.text import TextDataLoaders
    kw = dict(text_col='text', device='cpu')
start, cpu0 = time.perf_counter(), cpu()
dls = TextDataLoaders.from_df(df, is_lm=True, valid_pct=0.1, seed=0, bs=64, seq_len=72,
                              n_workers=2, **kw)
built, built_cpu = time.perf_counter() - start, cpu() - cpu0
x, y = dls.one_batch()
print(json.dumps({'build_s': built, 'build_cpu_s': built_cpu,
                  'first_batch_s': time.perf_counter() - start,
                  'vocab': len(dls.vocab), 'shape': list(x.shape)}))
"""

FASTAI_TRAIN = """
import json, sys, time, pandas as pd, torch
from fastai.text.all import *
torch.set_num_threads(int(sys.argv[4]))
kind, n_texts, cfg = sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[5])
bs, seq_len = int(sys.argv[6]), int(sys.argv[7])
df = pd.read_csv(sys.argv[1]).iloc[:n_texts]
class Timer(Callback):
    order = -100
    def before_train(self):
        self.t0, self.c0, self.tokens = time.perf_counter(), time.process_time(), 0
    def after_batch(self):
        if self.training: self.tokens += self.xb[0].numel()
    def after_train(self):
        self.train_s = time.perf_counter() - self.t0
        self.train_cpu_s = time.process_time() - self.c0
set_seed(0)
if kind == 'lm':
    dls = TextDataLoaders.from_df(df, text_col='text', is_lm=True, valid_pct=0.1, seed=0,
                                  bs=bs, seq_len=seq_len, n_workers=2)
    config = {**awd_lstm_lm_config, **cfg}
    learn = language_model_learner(dls, AWD_LSTM, config=config, pretrained=False,
                                   drop_mult=0.3, metrics=[accuracy, Perplexity()])
else:
    dls = TextDataLoaders.from_df(df, text_col='text', label_col='label', valid_col='is_valid',
                                  bs=bs, seq_len=seq_len, n_workers=2)
    config = {**awd_lstm_clas_config, **cfg}
    learn = text_classifier_learner(dls, AWD_LSTM, seq_len=seq_len, config=config,
                                    pretrained=False, drop_mult=0.5, metrics=accuracy)
timer = Timer()
start, cpu = time.perf_counter(), time.process_time()
with learn.no_bar(), learn.no_logging():
    learn.fit(1, 1e-3, cbs=[timer])
vocab = len(dls.vocab if kind == 'lm' else dls.vocab[0])
print(json.dumps({'epoch_s': time.perf_counter() - start, 'train_s': timer.train_s,
                  'epoch_cpu_s': time.process_time() - cpu,
                  'train_cpu_s': timer.train_cpu_s, 'tokens': timer.tokens, 'vocab': vocab}))
"""


def run_fastai(script: str, *args: str, python: Path = FASTAI_PY) -> dict | None:
    """Run `script` with fastai's python (or `python`); its last stdout line is JSON. None
    when unavailable."""
    if not Path(python).exists():
        return None
    out = subprocess.run(
        [str(python), "-c", script, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        check=False,
    )
    if out.returncode != 0:
        print(f"{python} failed: {out.stderr[-800:]}", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- tokenization
def fastlearn_tokenize(texts: list[str]) -> dict:
    from fastlearn.text import Vocab, tokenize_texts

    start = time.perf_counter()
    tokens = tokenize_texts(texts, n_workers=2)
    vocab = Vocab.from_tokens(tokens, min_freq=3, max_vocab=60000)
    ids = vocab.numericalize_batch(tokens)
    return {
        "seconds": time.perf_counter() - start,
        "tokens": sum(len(t) for t in ids),
        "vocab": len(vocab),
    }


def bench_tokenize(imdb: Path, wiki: Path, repeats: int, fastai: bool) -> list[list]:
    rows = []
    corpora = [
        ("imdb_sample (1,000 reviews)", imdb / "texts.csv", "infer"),
        ("WikiText-2 train (615 articles)", wiki / "train.csv", "none"),
    ]
    for name, csv, header in corpora:
        df = pd.read_csv(csv, header=None if header == "none" else "infer")
        texts = df.iloc[:, 0 if header == "none" else df.columns.get_loc("text")].tolist()
        mine, theirs = [], []
        for _ in range(repeats):
            mine.append(fastlearn_tokenize(texts))
            if fastai:
                theirs.append(run_fastai(FASTAI_TOKENIZE, str(csv), header))
        ours = statistics.median(r["seconds"] for r in mine)
        ref = statistics.median(r["seconds"] for r in theirs) if theirs and all(theirs) else None
        rows.append(
            [
                name,
                f"{mine[0]['tokens']:,}",
                f"{ours:.2f}",
                f"{ref:.2f}" if ref else "n/a",
                f"{ref / ours:.1f}x" if ref else "n/a",
                f"{mine[0]['vocab']:,} / {theirs[0]['vocab']:,}"
                if ref
                else f"{mine[0]['vocab']:,}",
            ]
        )
        print(rows[-1], flush=True)
    return rows


# ---------------------------------------------------------------------------- LM throughput
def lm_dls(df: pd.DataFrame):
    from fastlearn.text import TextDataLoaders

    return TextDataLoaders.from_df(
        df, "text", is_lm=True, valid_pct=0.1, seed=0, bs=BS, seq_len=SEQ_LEN, device="cpu"
    )


def fastlearn_lm(dls) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, tokens) of one training phase with language_model_learner."""
    from fastlearn import Callback, set_seed
    from fastlearn.text import AWD_LSTM, language_model_learner

    class Timer(Callback):
        order = -100

        def before_train(self, learn):
            self.tokens = 0
            self.start, self.cpu = time.perf_counter(), time.process_time()

        def after_batch(self, learn):
            if learn.training:
                self.tokens += learn.xb[0].numel()

        def after_train(self, learn):
            self.seconds = time.perf_counter() - self.start
            self.cpu = time.process_time() - self.cpu

    set_seed(0)
    learn = language_model_learner(dls, AWD_LSTM, config=CONFIG, drop_mult=0.3, show_progress=False)
    valid, learn.dls.valid = learn.dls.valid, None  # the training phase only
    timer = Timer()
    set_seed(1)
    learn.fit(1, 1e-3, cbs=[timer])
    learn.dls.valid = valid
    return timer.seconds, timer.cpu, timer.tokens


def hand_lm(dls) -> tuple[float, float, int]:
    """The same model, initial weights and batches in a hand-written loop (Adam, AR/TAR)."""
    from fastlearn import set_seed
    from fastlearn.text import LanguageModel

    set_seed(0)
    model = LanguageModel(len(dls.text_vocab), {**CONFIG, "pad_token": dls.pad_idx}, 0.3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.99), eps=1e-5)
    model.train()
    model.reset()
    set_seed(1)
    start, cpu, tokens = time.perf_counter(), time.process_time(), 0
    for x, y in dls.train:
        out = model(x)
        loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        raw, dropped = model[1].raw_output, model[1].dropped_output
        loss = loss + 2 * dropped.pow(2).mean() + (raw[:, 1:] - raw[:, :-1]).pow(2).mean()
        loss.backward()
        with torch.no_grad():  # decoupled weight decay, as the learner's default wd=0.01
            for p in model.parameters():
                p.mul_(1 - 1e-3 * 0.01)
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += x.numel()
    return time.perf_counter() - start, time.process_time() - cpu, tokens


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """(first quartile, median, third quartile); a single value thrice."""
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def bench_lm(imdb: Path, n_batches: int, pairs: int, fastai_runs: int) -> list[list]:
    """Paired runs in this process: fastlearn and the hand loop back to back, their order
    alternating, one warm-up pair first (not counted). Each pair gives the ratio of their
    times per token (wall clock and CPU); the table gives the median and quartiles of these
    ratios, so load swings between pairs cancel out. fastai runs in a subprocess after the
    first `fastai_runs` pairs, each compared with the fastlearn run of its pair."""
    df = pd.read_csv(imdb / "texts.csv")
    lengths = df["text"].str.split().str.len().cumsum()  # ~1.3 tokens a word
    n_texts = int((lengths < n_batches * BS * SEQ_LEN / 1.3 / 0.9).sum()) + 1
    dls = lm_dls(df.iloc[:n_texts])
    fastlearn_lm(dls), hand_lm(dls)  # warm-up: allocator, lazy imports, first-call costs
    wall, cpu, ours, hand, vs_fastai, theirs = [], [], [], [], [], []
    for i in range(pairs):
        runs = {}
        for name in ("fastlearn", "hand") if i % 2 == 0 else ("hand", "fastlearn"):
            runs[name] = (fastlearn_lm if name == "fastlearn" else hand_lm)(dls)
        (fs, fc, ft), (hs, hc, ht) = runs["fastlearn"], runs["hand"]
        wall.append((fs / ft) / (hs / ht))
        cpu.append((fc / ft) / (hc / ht))
        ours.append(ft / fs)
        hand.append(ht / hs)
        line = f"pair {i}: fastlearn {ft / fs:,.0f} tok/s, hand {ht / hs:,.0f} tok/s, "
        line += f"time ratio {wall[-1]:.3f} (CPU {cpu[-1]:.3f})"
        if i < fastai_runs:
            r = run_fastai(
                FASTAI_TRAIN,
                str(imdb / "texts.csv"),
                "lm",
                str(n_texts),
                str(torch.get_num_threads()),
                json.dumps(CONFIG),
                str(BS),
                str(SEQ_LEN),
            )
            if r:
                theirs.append(r["tokens"] / r["train_s"])
                vs_fastai.append((ft / fs) / theirs[-1])
                line += f"; fastai {theirs[-1]:,.0f} tok/s"
        print(line, flush=True)
    w, c = quartiles(wall), quartiles(cpu)
    row = [
        f"{len(dls.train)} batches of {BS}x~{SEQ_LEN}, vocab {len(dls.text_vocab):,}, "
        f"{pairs} pairs",
        f"{statistics.median(hand):,.0f}",
        f"{statistics.median(ours):,.0f}",
        f"{w[1]:.3f} ({w[0]:.3f}-{w[2]:.3f})",
        f"{c[1]:.3f} ({c[0]:.3f}-{c[2]:.3f})",
        f"{statistics.median(theirs):,.0f} (median of {len(theirs)})" if theirs else "n/a",
        f"{statistics.median(vs_fastai):.2f}" if vs_fastai else "n/a",
    ]
    print(row, flush=True)
    return [row]


# ---------------------------------------------------------------------------- classifier
def fastlearn_clas(imdb: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one classifier epoch, training and validation."""
    from fastlearn import set_seed
    from fastlearn.text import AWD_LSTM, TextDataLoaders, text_classifier_learner

    df = pd.read_csv(imdb / "texts.csv")
    dls = TextDataLoaders.from_df(
        df, "text", "label", "is_valid", bs=BS, seq_len=SEQ_LEN, device="cpu"
    )
    set_seed(0)
    learn = text_classifier_learner(dls, AWD_LSTM, config=CONFIG, show_progress=False)
    start, cpu = time.perf_counter(), time.process_time()
    learn.fit(1, 1e-3)
    return time.perf_counter() - start, time.process_time() - cpu


def bench_clas(imdb: Path, repeats: int, fastai: bool) -> list[list]:
    """fastlearn and fastai alternating; each row: medians and the ratio of the medians."""
    ours, theirs = [], []
    for _ in range(repeats):
        ours.append(fastlearn_clas(imdb))
        print(f"fastlearn classifier epoch: {ours[-1][0]:.1f} s (CPU {ours[-1][1]:.1f} s)")
        if fastai:
            r = run_fastai(
                FASTAI_TRAIN,
                str(imdb / "texts.csv"),
                "clas",
                "1000",
                str(torch.get_num_threads()),
                json.dumps(CONFIG),
                str(BS),
                str(SEQ_LEN),
            )
            if r:
                theirs.append((r["epoch_s"], r["epoch_cpu_s"]))
                print(
                    f"fastai classifier epoch: {r['epoch_s']:.1f} s (CPU {r['epoch_cpu_s']:.1f} s)"
                )
    rows = []
    for name, k in (("wall clock", 0), ("CPU time", 1)):
        o = statistics.median(t[k] for t in ours)
        f = statistics.median(t[k] for t in theirs) if theirs else None
        rows.append(
            [
                f"800 train + 200 valid reviews, {name} (median of {len(ours)})",
                f"{o:.1f}",
                f"{f:.1f}" if f else "n/a",
                f"{o / f:.2f}" if f else "n/a",
            ]
        )
        print(rows[-1], flush=True)
    return rows


# ---------------------------------------------------------------------------- LM loaders
def bench_build(imdb: Path, n_reviews: int, repeats: int, fastai: bool) -> list[list]:
    """Fresh processes, fastlearn and fastai alternating; medians of the build times."""
    runs: dict[str, list[dict]] = {"fastlearn": [], "fastai": []}
    for _ in range(repeats):
        for name in ("fastlearn", "fastai") if fastai else ("fastlearn",):
            python = FASTAI_PY if name == "fastai" else Path(sys.executable)
            r = run_fastai(BUILD_LM, str(imdb / "texts.csv"), str(n_reviews), name, python=python)
            if r:
                runs[name].append(r)
                print(
                    f"{name}: build {r['build_s']:.2f} s (CPU {r['build_cpu_s']:.2f} s), "
                    f"first batch at "
                    f"{r['first_batch_s']:.2f} s, vocab {r['vocab']:,}",
                    flush=True,
                )
    rows = []
    for key, what in (
        ("build_s", "TextDataLoaders.from_df(is_lm=True), wall clock"),
        ("build_cpu_s", "same, CPU time of all its processes"),
        ("first_batch_s", "same, wall clock to the first batch"),
    ):
        ours = statistics.median(r[key] for r in runs["fastlearn"])
        theirs = statistics.median(r[key] for r in runs["fastai"]) if runs["fastai"] else None
        rows.append(
            [
                f"{n_reviews:,} IMDb reviews, {what} (median of {repeats})",
                f"{ours:.2f}",
                f"{theirs:.2f}" if theirs else "n/a",
                f"{theirs / ours:.1f}x" if theirs else "n/a",
            ]
        )
        print(rows[-1], flush=True)
    return rows


# ---------------------------------------------------------------------------- report
def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in rows])


def write_section(text: str) -> None:
    """Replace (or append) the `## Text` section of docs/benchmarks.md."""
    doc = ROOT / "docs" / "benchmarks.md"
    old = doc.read_text() if doc.exists() else "# Benchmarks\n"
    start = old.find("\n## Text\n")
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = old.find("\n## ", start + 1)
        new = old[: start + 1] + text + ("" if end < 0 else "\n" + old[end + 1 :])
    doc.write_text(new.rstrip("\n") + "\n")


def data_paths() -> tuple[Path, Path]:
    from fastlearn import URLs, untar_data

    shared = ROOT.parent / "shared" / "datasets"
    if "FASTLEARN_DATA_MIRROR" not in os.environ and shared.is_dir():
        os.environ["FASTLEARN_DATA_MIRROR"] = shared.as_uri() + "/"
    return untar_data(URLs.IMDB_SAMPLE), untar_data(URLs.WIKITEXT_TINY)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batches", type=int, default=16, help="LM batches per timed run")
    parser.add_argument("--pairs", type=int, default=9, help="LM fastlearn/hand-loop pairs")
    parser.add_argument("--fastai-runs", type=int, default=3, help="fastai LM runs")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--no-fastai", action="store_true")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--reviews", type=int, default=5000, help="reviews for --only build")
    parser.add_argument("--only", choices=["tokenize", "lm", "clas", "build"], default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    fastai = not args.no_fastai and FASTAI_PY.exists()
    if not fastai:
        print("fastai columns skipped: no .venv-fastai (bash benchmarks/setup_fastai_env.sh)")
    imdb, wiki = data_paths()
    parts = []
    if args.only in (None, "tokenize"):
        rows = bench_tokenize(imdb, wiki, args.repeats, fastai)
        parts.append(
            table(
                [
                    "corpus",
                    "tokens",
                    "fastlearn, s",
                    "fastai (spaCy), s",
                    "fastlearn speed-up",
                    "vocab (fastlearn / fastai)",
                ],
                rows,
            )
        )
    if args.only in (None, "lm"):
        rows = bench_lm(imdb, args.batches, args.pairs, args.fastai_runs if fastai else 0)
        parts.append(
            table(
                [
                    "LM training phase",
                    "hand loop, tok/s (median)",
                    "fastlearn, tok/s (median)",
                    "fastlearn time / hand, wall: median (quartiles)",
                    "same, CPU time",
                    "fastai, tok/s",
                    "fastlearn / fastai tok/s (median)",
                ],
                rows,
            )
        )
    if args.only in (None, "build"):
        rows = bench_build(imdb, args.reviews, args.repeats, fastai)
        parts.append(
            table(["building LM loaders", "fastlearn, s", "fastai, s", "fastlearn speed-up"], rows)
        )
    if args.only in (None, "clas"):
        rows = bench_clas(imdb, args.repeats, fastai)
        parts.append(
            table(["classifier, 1 epoch", "fastlearn, s", "fastai, s", "fastlearn / fastai"], rows)
        )
    print("\n\n".join(parts))
    if args.write:
        write_section("## Text\n\n" + "\n\n".join(parts) + "\n")


if __name__ == "__main__":
    main()

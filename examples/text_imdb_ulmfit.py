"""ULMFiT on imdb_sample: fine-tune the WikiText-2 language model on the review texts, then
train the classifier on its encoder with gradual unfreezing, and compare it with the same
classifier trained from a random encoder.

    python examples/text_imdb_ulmfit.py [--data FOLDER] [--lm-epochs 1] [--pretrained FILE]

Needs the language model that text_wikitext_lm.py exports (FASTLEARN_HOME/models/
wt2_awd_lstm_small.fl, or --pretrained FILE); when it is missing it is trained first (that
example's defaults). The language model learns from all 1,000 texts (train and validation,
without their labels: self-supervision); the classifiers see the 800 training labels only.
Sized for a 2-core CPU: the small AWD-LSTM of common.SMALL, texts cut to their first
`--truncate` tokens for the classifier, one frozen and `--lm-epochs` unfrozen LM epochs, and
the course's four classifier stages (fit_one_cycle(1, 2e-2), freeze_to(-2), freeze_to(-3),
unfreeze) of one epoch each. Asserts the pretrained classifier's accuracy beats the other's.
Measured with the defaults (seed 42, 1 thread, the WikiText-2 model text_wikitext_lm.py
exports): 0.615 with the fine-tuned encoder, 0.520 without (200 validation reviews), about
6 CPU-minutes (14 min wall clock on a shared, overloaded 2-core machine).
"""

from __future__ import annotations

import argparse
import time

from common import PRETRAINED, SMALL, dataset, parse_args

from fastlearn.text.all import *


def fine_tune_lm(df: pd.DataFrame, pretrained: Path, args, path: Path) -> TextDataLoaders:
    """Fine-tune the pretrained LM on every review; saves its encoder as 'imdb_encoder'."""
    dls_lm = TextDataLoaders.from_df(
        df, "text", is_lm=True, valid_pct=0.1, seed=args.seed, bs=args.bs, seq_len=args.seq_len
    )
    set_seed(args.seed)
    learn = language_model_learner(
        dls_lm, AWD_LSTM, drop_mult=0.3, pretrained=pretrained, wd=0.1, path=path
    )
    learn.fit_one_cycle(1, 2e-2)  # frozen: the embeddings (new words start at the mean) learn
    learn.unfreeze()
    learn.fit_one_cycle(args.lm_epochs, 2e-3)
    print("  ->", learn.predict("I liked this movie because", n_words=30, temperature=0.75))
    learn.save_encoder("imdb_encoder")
    return dls_lm


def classify(dls: TextDataLoaders, encoder: str | None, args, path: Path) -> float:
    """The course's gradual unfreezing; returns the final validation accuracy."""
    set_seed(args.seed)
    learn = text_classifier_learner(
        dls, AWD_LSTM, config=SMALL, drop_mult=0.5, path=path, metrics=accuracy
    )
    if encoder is not None:
        learn.load_encoder(encoder)  # frozen but for the head
    else:
        learn.freeze()  # the same schedule over a random encoder
    learn.fit_one_cycle(1, 2e-2)
    learn.freeze_to(-2)
    learn.fit_one_cycle(1, slice(1e-2 / (2.6**4), 1e-2))
    learn.freeze_to(-3)
    learn.fit_one_cycle(1, slice(5e-3 / (2.6**4), 5e-3))
    learn.unfreeze()
    learn.fit_one_cycle(1, slice(1e-3 / (2.6**4), 1e-3))
    return learn.recorder.history[-1]["accuracy"]


def main() -> None:
    args = parse_args(
        __doc__.splitlines()[0],
        threads=1,
        lm_epochs=1,
        bs=32,
        seq_len=64,
        truncate=256,
        pretrained="",
    )
    pretrained = Path(args.pretrained) if args.pretrained else PRETRAINED
    if not pretrained.is_file():
        print(
            f"No pretrained language model at {pretrained}: training it first "
            "(examples/text_wikitext_lm.py)."
        )
        from text_wikitext_lm import pretrain

        lm_args = argparse.Namespace(
            data=args.data, seed=args.seed, subsample=0.3, epochs=1, lr=1e-2, bs=64, seq_len=64
        )
        lm, _ = pretrain(lm_args)
        lm.export(pretrained)
    df = pd.read_csv(dataset(URLs.IMDB_SAMPLE, args.data, "texts.csv") / "texts.csv")
    work = fastlearn_home() / "examples" / "text_imdb_ulmfit"
    start = time.perf_counter()
    dls_lm = fine_tune_lm(df, pretrained, args, work)
    dls = TextDataLoaders.from_df(
        df,
        "text",
        "label",
        "is_valid",
        text_vocab=dls_lm.vocab,
        bs=args.bs,
        seq_len=args.seq_len,
        truncate=args.truncate,
    )
    with_lm = classify(dls, "imdb_encoder", args, work)
    without = classify(dls, None, args, work)
    print(
        f"validation accuracy: {with_lm:.3f} with the fine-tuned encoder, {without:.3f} "
        f"without ({time.perf_counter() - start:.0f} s)"
    )
    assert with_lm > without, (with_lm, without)


if __name__ == "__main__":
    main()

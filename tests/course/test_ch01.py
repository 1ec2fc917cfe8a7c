"""Chapter 1 (01_intro): the four first models of the course, typed as the book writes them.

Differences from the book, all for tiny offline data: the data folders are built by the
fixtures instead of `untar_data(URLs.X)` (no network here); images are 32 px instead of 224;
epochs are cut to one; `pretrained=False` because weights cannot be downloaded here; `bs` is
given where the book's default batch size (64) is larger than the tiny training set.
"""

from types import SimpleNamespace

import pytest

from fastlearn.collab import *
from fastlearn.tabular.all import *
from fastlearn.text.all import *
from fastlearn.vision.all import *

# --- Your First Model / Running Your First Notebook ---------------------------------------
pytestmark = pytest.mark.slow  # minutes of training on 2 CPU cores: run with -m slow


def test_first_model_is_cat(pets_path):
    path = Path(pets_path) / 'images'              # untar_data(URLs.PETS)/'images'

    def is_cat(x): return x[0].isupper()
    dls = ImageDataLoaders.from_name_func(
        path, get_image_files(path), valid_pct=0.2, seed=42,
        label_func=is_cat, item_tfms=Resize(32), bs=8)

    assert list(dls.vocab) == [False, True]
    assert len(dls.train_ds) == 32 and len(dls.valid_ds) == 8
    xb, yb = dls.one_batch()
    assert tuple(xb.shape) == (8, 3, 32, 32) and tuple(yb.shape) == (8,)

    learn = vision_learner(dls, resnet34, metrics=error_rate, pretrained=False)
    learn.fine_tune(1)
    # one epoch in the last fit, holding train_loss, valid_loss, error_rate
    assert len(learn.recorder.values) == 1 and len(learn.recorder.values[-1]) == 3

    # the chapter also names the older spelling
    assert cnn_learner is not None


# --- Sidebar: This Book Was Written in Jupyter Notebooks / uploading an image -------------
def test_predict_uploaded_image(pets_path):
    path = Path(pets_path) / 'images'

    def is_cat(x): return x[0].isupper()
    dls = ImageDataLoaders.from_name_func(
        path, get_image_files(path), valid_pct=0.2, seed=42,
        label_func=is_cat, item_tfms=Resize(32), bs=8)
    learn = vision_learner(dls, resnet34, metrics=error_rate, pretrained=False)

    # image_cat() (fastai's bundled sample) is replaced by one of our files
    img = PILImage.create(path / 'Abyssinian_1.jpg')
    thumb = img.to_thumb(192)
    assert max(thumb.size) <= 192

    # the upload widget gives bytes: PILImage.create takes them too
    # (the book fakes the widget in a hidden cell with SimpleNamespace)
    uploader = SimpleNamespace(data=[(path / 'Bengal_2.jpg').read_bytes()])
    img = PILImage.create(uploader.data[0])
    is_cat, _, probs = learn.predict(img)
    print(f"Is this a cat?: {is_cat}.")
    print(f"Probability it's a cat: {probs[1].item():.6f}")
    assert is_cat in (True, False)
    assert probs.shape == (2,) and abs(float(probs.sum()) - 1) < 1e-4


# --- Deep Learning Is Not Just for Image Classification: segmentation ---------------------
def test_segmentation_camvid_tiny(camvid_path):
    path = Path(camvid_path)                       # untar_data(URLs.CAMVID_TINY)
    dls = SegmentationDataLoaders.from_label_func(
        path, bs=8, fnames=get_image_files(path/"images"),
        label_func=lambda o: path/'labels'/f'{o.stem}_P{o.suffix}',
        codes=np.loadtxt(path/'codes.txt', dtype=str)
    )
    assert list(dls.vocab) == ['Road', 'Sky', 'Car']
    xb, yb = dls.one_batch()
    assert tuple(xb.shape) == (8, 3, 32, 32)
    assert tuple(yb.shape) == (8, 32, 32) and int(yb.max()) <= 2

    learn = unet_learner(dls, resnet34, pretrained=False)
    learn.fine_tune(1)
    assert tuple(learn.model(xb).shape) == (8, 3, 32, 32)
    learn.show_results(max_n=6, figsize=(7, 8))


# --- Deep Learning Is Not Just for Image Classification: text -----------------------------
def test_text_classifier_imdb(imdb_path):
    dls = TextDataLoaders.from_folder(imdb_path, valid='test', bs=8)   # untar_data(URLs.IMDB)
    assert len(dls.train_ds) == 40 and len(dls.valid_ds) == 16     # unsup/ is left out
    # Documented difference: a text classifier's dls.vocab is its classes (fastai's is the pair
    # (tokens, classes)); the tokens are dls.text_vocab.
    assert list(dls.vocab) == ['neg', 'pos'] and 'xxbos' in dls.text_vocab.itos

    # a narrow AWD-LSTM (the default is 400/1152 wide) keeps this CPU run short
    learn = text_classifier_learner(dls, AWD_LSTM, drop_mult=0.5, metrics=accuracy,
                                    pretrained=False,
                                    config=dict(awd_lstm_clas_config, emb_sz=64, n_hid=128))
    learn.fine_tune(1, 1e-2)
    label, idx, probs = learn.predict("I really liked that movie!")
    assert label in ('neg', 'pos') and label == dls.vocab[int(idx)]
    assert probs.shape == (2,)


# --- Deep Learning Is Not Just for Image Classification: tabular --------------------------
def test_tabular_adult(adult_path):
    path = Path(adult_path)                        # untar_data(URLs.ADULT_SAMPLE)
    dls = TabularDataLoaders.from_csv(path/'adult.csv', path=path, y_names="salary",
        cat_names = ['workclass', 'education', 'marital-status', 'occupation',
                     'relationship', 'race'],
        cont_names = ['age', 'fnlwgt', 'education-num'],
        procs = [Categorify, FillMissing, Normalize])
    learn = tabular_learner(dls, metrics=accuracy)
    before = learn.validate()
    learn.fit_one_cycle(3)
    after = learn.validate()
    assert len(after) == 2 and all(isinstance(v, float) for v in after)
    assert after[0] < before[0]
    dls.show_batch()


# --- Deep Learning Is Not Just for Image Classification: recommendations ------------------
def test_collab_ml_sample(ml_sample_path):
    path = Path(ml_sample_path)                    # untar_data(URLs.ML_SAMPLE)
    dls = CollabDataLoaders.from_csv(path/'ratings.csv')
    xb, yb = dls.one_batch()
    assert xb.shape[1] == 2
    learn = collab_learner(dls, y_range=(0.5, 5.5))
    before = learn.validate()[0]
    learn.fine_tune(10)
    assert learn.validate()[0] < before
    learn.show_results()

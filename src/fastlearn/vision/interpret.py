"""Looking inside image models: top losses on images, activation hooks, Grad-CAM.

    >>> interp = ClassificationInterpretation.from_learner(learn)
    >>> interp.plot_top_losses(9, path="top_losses.png")
    >>> with hook_outputs([learn.model[0][4], learn.model[0][5]]) as hooks:
    ...     learn.model(xb)
    >>> [h.stored.shape for h in hooks]
    >>> heatmap = grad_cam(learn, "cat.jpg")            # (h, w) over the last feature map
    >>> plot_grad_cam(learn, "cat.jpg", path="cam.png")

Grad-CAM (Selvaraju et al. 2017): the feature maps A_k of a layer weighted by the mean
gradient of the class score over each map, summed and passed through ReLU:
`relu(sum_k mean_ij(d score / d A_k[i, j]) * A_k)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..core.data import DataLoader
from ..core.interpret import ClassificationInterpretation as CoreClassificationInterpretation
from ..core.interpret import new_figure
from ..core.io import save_figure
from ..core.losses import activation_of, decodes_of
from ..core.torch_utils import to_device
from .dataset import collate_images
from .show import image_for_display, loader_images, show_images, task_of

if TYPE_CHECKING:
    from ..core.learner import Learner

__all__ = [
    "ImageClassificationInterpretation",
    "ClassificationInterpretation",
    "SegmentationInterpretation",
    "Hook",
    "Hooks",
    "hook_output",
    "hook_outputs",
    "grad_cam",
    "plot_grad_cam",
    "show_predictions",
]


Figsize = tuple[float, float]


# ---------------------------------------------------------------------------- images of a loader
def loader_items(dl: DataLoader, idxs: Iterable[int]) -> tuple[Tensor, ...]:
    """Items `idxs` of the loader's dataset as one batch, after its validation transforms."""
    batch = collate_images([dl.dataset[int(i)] for i in idxs])
    batch = to_device(batch, dl.device)
    for tfm in dl.batch_tfms:
        if not getattr(tfm, "train_only", False):
            batch = tfm(batch)
    return tuple(batch)


def _label(learn: Learner, y: Tensor) -> str:
    """One target or decoded prediction as text."""
    vocab, task = learn.dls.vocab, _task(learn)
    if task == "multi_label":
        names = [
            str(vocab[i]) if vocab is not None else str(i)
            for i in torch.nonzero(y).flatten().tolist()
        ]
        return ";".join(names)
    if task == "regression" or y.is_floating_point():
        return ", ".join(f"{v:.3g}" for v in y.detach().cpu().reshape(-1).tolist())
    return str(vocab[int(y)]) if vocab is not None else str(int(y))


@torch.no_grad()
def _predict_batch(learn: Learner, x: Tensor) -> tuple[Tensor, Tensor]:
    """(probabilities, decoded) of the model on `x`, in eval mode (the mode restored after)."""
    was_training = learn.model.training
    learn.model.eval()
    try:
        out = learn.model(x)
    finally:
        learn.model.train(was_training)
    act, decodes = activation_of(learn.loss_func), decodes_of(learn.loss_func)
    probs = act(out) if act is not None else out
    return probs, decodes(probs) if decodes is not None else probs


def _task(learn: Learner) -> str:
    """A VisionLearner's task; any other learner's from its loaders (default classification)."""
    return getattr(learn, "task", None) or task_of(learn.dls)


def show_predictions(
    learn: Learner,
    dl: DataLoader,
    *,
    max_n: int = 9,
    nrows: int | None = None,
    ncols: int | None = None,
    figsize: Figsize | None = None,
    dpi: int | None = None,
    path: str | Path | None = None,
) -> Any:
    """Images of the first batch of `dl` titled 'actual/predicted', green when right and red
    when wrong (regression: black); segmentation shows actual and predicted masks side by side.
    """
    batch = dl.one_batch()
    x, y = batch[0][:max_n], batch[1][:max_n]
    _, decoded = _predict_batch(learn, x)
    images = loader_images(dl, x)
    if _task(learn) == "segmentation":
        pairs = [img for img in images for _ in range(2)]
        masks = [m.cpu() for a, p in zip(y, decoded) for m in (a, p)]
        titles = ["actual", "predicted"] * len(images)
        n_codes = len(learn.dls.vocab) if learn.dls.vocab is not None else None
        return show_images(
            pairs,
            titles,
            masks,
            nrows=nrows,
            ncols=2,
            figsize=figsize,
            dpi=dpi,
            path=path,
            n_codes=n_codes,
        )  # a row per image
    actual = [_label(learn, a) for a in y]
    predicted = [_label(learn, p) for p in decoded]
    colors = [_verdict_color(learn, a, p) for a, p in zip(y, decoded)]
    titles = [f"{a}/{p}" for a, p in zip(actual, predicted)]
    return show_images(
        images,
        titles,
        nrows=nrows,
        ncols=ncols,
        figsize=figsize,
        dpi=dpi,
        path=path,
        title_colors=colors,
    )


def _verdict_color(learn: Learner, actual: Tensor, predicted: Tensor) -> str:
    """'green' for a right prediction, 'red' for a wrong one, 'black' for regression."""
    task = _task(learn)
    if task == "multi_label":
        right = torch.equal(actual.bool(), predicted.bool())
    elif task == "regression" or actual.is_floating_point():
        return "black"
    else:
        right = int(actual) == int(predicted)
    return "green" if right else "red"


# ---------------------------------------------------------------------------- interpretation
class ImageClassificationInterpretation(CoreClassificationInterpretation):
    """The core's confusion matrix, most confused and top losses, plus the images themselves.

    `fastlearn.vision` (and `vision.all`) gives it the course's name,
    `ClassificationInterpretation`; `fastlearn.ClassificationInterpretation` is the core's,
    for any classifier.

        >>> interp = ClassificationInterpretation.from_learner(learn)
        >>> interp.plot_confusion_matrix(path="cm.png"); interp.most_confused(min_val=2)
        >>> interp.plot_top_losses(9, path="top.png")
    """

    def plot_top_losses(
        self,
        k: int = 9,
        largest: bool = True,
        *,
        nrows: int | None = None,
        ncols: int | None = None,
        figsize: Figsize | None = None,
        dpi: int | None = None,
        path: str | Path | None = None,
    ) -> Any:
        """The `k` images with the largest losses, titled predicted/actual, loss / prob.

        prob is the probability given to the predicted class. Returns the figure.

            >>> interp.plot_top_losses(5, nrows=1)
        """
        k = min(k, len(self.losses))
        losses, idxs = self.losses.topk(k, largest=largest)
        images = loader_images(self.dl, loader_items(self.dl, idxs.tolist())[0])
        titles = []
        for loss, i in zip(losses.tolist(), idxs.tolist()):
            pred, actual = int(self.decoded[i]), int(self.targs[i])
            prob = float(self.probs[i, pred])
            titles.append(f"{self.vocab[pred]}/{self.vocab[actual]}\n{loss:.2f} / {prob:.2f}")
        return show_images(
            images, titles, nrows=nrows, ncols=ncols, figsize=figsize, dpi=dpi, path=path
        )


ClassificationInterpretation = ImageClassificationInterpretation  # the course's name


class SegmentationInterpretation:
    """Per-image losses of a segmentation model (mean over pixels) and the worst images."""

    def __init__(
        self, learn: Learner, decoded: Tensor, targs: Tensor, losses: Tensor, dl: DataLoader
    ) -> None:
        self.learn, self.decoded, self.targs, self.losses, self.dl = (
            learn,
            decoded,
            targs,
            losses,
            dl,
        )

    @classmethod
    def from_learner(
        cls, learn: Learner, ds_idx: int = 1, dl: DataLoader | None = None
    ) -> SegmentationInterpretation:
        """Predicted masks and per-image losses over a loader (default: validation)."""
        dl = dl if dl is not None else learn.dls[ds_idx]
        probs, targs, decoded, losses = learn.get_preds(dl=dl, with_decoded=True, with_loss=True)
        return cls(learn, decoded, targs, losses.view(len(targs), -1).mean(1), dl)

    def top_losses(self, k: int | None = None) -> tuple[Tensor, Tensor]:
        """The k largest per-image losses and their indices."""
        k = len(self.losses) if k is None else min(k, len(self.losses))
        return self.losses.topk(k)

    def plot_top_losses(
        self,
        k: int = 4,
        *,
        figsize: Figsize | None = None,
        dpi: int | None = None,
        path: str | Path | None = None,
    ) -> Any:
        """The `k` worst images, a row each: actual mask beside predicted mask, with the loss."""
        losses, idxs = self.top_losses(k)
        images = loader_images(self.dl, loader_items(self.dl, idxs.tolist())[0])
        pairs = [img for img in images for _ in range(2)]
        masks = [m for i in idxs.tolist() for m in (self.targs[i], self.decoded[i])]
        titles = [t for loss in losses.tolist() for t in (f"actual (loss {loss:.2f})", "predicted")]
        vocab = self.learn.dls.vocab
        return show_images(
            pairs,
            titles,
            masks,
            ncols=2,
            figsize=figsize,
            dpi=dpi,
            path=path,
            n_codes=len(vocab) if vocab is not None else None,
        )


# ---------------------------------------------------------------------------- hooks
class Hook:
    """Records a module's output (or `func(module, inputs, output)`) at every forward pass.

    With `grad=True` it records the gradient of the output instead (a backward hook).
    Use it as a context manager, or call `remove()`:

        >>> with Hook(learn.model[0]) as hook:
        ...     learn.model(xb)
        >>> hook.stored.shape          # (B, C, h, w)
    """

    def __init__(
        self,
        module: nn.Module,
        func: Callable | None = None,
        *,
        detach: bool = True,
        cpu: bool = False,
        grad: bool = False,
    ) -> None:
        self.func, self.detach, self.cpu, self.stored = func, detach, cpu, None
        register = module.register_full_backward_hook if grad else module.register_forward_hook
        self._handle = register(self._record)

    def _record(self, module: nn.Module, inputs: Any, output: Any) -> None:
        value = self.func(module, inputs, output) if self.func is not None else output
        if isinstance(value, tuple) and len(value) == 1:  # a backward hook's grad_output
            value = value[0]
        if isinstance(value, Tensor):
            value = value.detach() if self.detach else value
            value = value.cpu() if self.cpu else value
        self.stored = value

    def remove(self) -> None:
        """Stop recording."""
        self._handle.remove()

    def __enter__(self) -> Hook:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


class Hooks:
    """A `Hook` on each of several modules: `hooks.stored` lists their records."""

    def __init__(
        self,
        modules: Iterable[nn.Module],
        func: Callable | None = None,
        *,
        detach: bool = True,
        cpu: bool = False,
        grad: bool = False,
    ) -> None:
        self.hooks = [Hook(m, func, detach=detach, cpu=cpu, grad=grad) for m in modules]

    @property
    def stored(self) -> list[Any]:
        """What each hook recorded last."""
        return [h.stored for h in self.hooks]

    def __getitem__(self, i: int) -> Hook:
        return self.hooks[i]

    def __len__(self) -> int:
        return len(self.hooks)

    def __iter__(self) -> Iterator[Hook]:
        return iter(self.hooks)

    def remove(self) -> None:
        """Stop recording on every module."""
        for h in self.hooks:
            h.remove()

    def __enter__(self) -> Hooks:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


def hook_output(
    module: nn.Module, *, detach: bool = True, cpu: bool = False, grad: bool = False
) -> Hook:
    """A Hook recording `module`'s output (or its gradient with `grad=True`)."""
    return Hook(module, detach=detach, cpu=cpu, grad=grad)


def hook_outputs(
    modules: Iterable[nn.Module], *, detach: bool = True, cpu: bool = False, grad: bool = False
) -> Hooks:
    """Hooks recording the output of each module."""
    return Hooks(modules, detach=detach, cpu=cpu, grad=grad)


# ---------------------------------------------------------------------------- Grad-CAM
def _default_layer(model: nn.Module) -> nn.Module:
    """The body of `Sequential(body, head)` models, else the last Conv2d."""
    if isinstance(model, nn.Sequential) and len(model) == 2:
        return model[0]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError(
            f"Expected a model with a Conv2d for Grad-CAM. Received: "
            f"{type(model).__name__} without one. Fix: pass layer=."
        )
    return convs[-1]


def _model_input(learn: Learner, image: Any) -> Tensor:
    """One image as the model sees it (the validation preprocessing), batch of one."""
    if isinstance(image, Tensor) and image.ndim == 4:
        return image.to(learn.dls.device)
    return learn.dls.test_dl([image]).one_batch()[0]


def _cam(
    model: nn.Module, layer: nn.Module, x: Tensor, target_class: int | None
) -> tuple[Tensor, Tensor, int]:
    """(activations (C, h, w), their gradients, the class) for one input."""
    store: dict[str, Tensor] = {}

    def capture(module: nn.Module, inputs: Any, output: Tensor) -> Tensor:
        # A leaf that requires grad, so gradients reach it even when the body is frozen;
        # a clone goes on, so in-place ops after the layer leave the recorded maps alone.
        store["act"] = output.detach().requires_grad_()
        return store["act"].clone()

    handle = layer.register_forward_hook(capture)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            logits = model(x)
            cls = int(logits[0].argmax()) if target_class is None else int(target_class)
            (grad,) = torch.autograd.grad(logits[0, cls], store["act"])
    finally:
        handle.remove()
        model.train(was_training)
    return store["act"][0].detach(), grad[0], cls


def grad_cam(
    learn: Learner, image: Any, target_class: int | None = None, layer: nn.Module | None = None
) -> Tensor:
    """The Grad-CAM heat map (h, w) of `image` for `target_class` (default: the predicted).

    `image`: what `learn.predict` accepts (a path, PIL image, tensor), or a preprocessed
    (1, C, H, W) batch. `layer`: the module whose feature maps are weighted (default: the
    body of a `vision_learner` model). The map has the layer's resolution; `plot_grad_cam`
    draws it over the image.
    """
    x = _model_input(learn, image)
    act, grad, _ = _cam(learn.model, layer or _default_layer(learn.model), x, target_class)
    weights = grad.mean(dim=(1, 2))  # (C,): mean gradient of the score over each map
    return torch.relu((weights[:, None, None] * act).sum(0))


def plot_grad_cam(
    learn: Learner,
    image: Any,
    target_class: int | None = None,
    layer: nn.Module | None = None,
    *,
    path: str | Path | None = None,
    alpha: float = 0.5,
    cmap: str = "magma",
    figsize: tuple[float, float] = (10, 4.8),
    dpi: int = 100,
) -> Any:
    """Draw the image beside its Grad-CAM heat map over it, with a colour bar (saved to
    `path` if given). The map is scaled to its maximum: 1 marks the region that most raises
    the class's score."""
    x = _model_input(learn, image)
    act, grad, cls = _cam(learn.model, layer or _default_layer(learn.model), x, target_class)
    cam = torch.relu((grad.mean(dim=(1, 2))[:, None, None] * act).sum(0))
    cam = F.interpolate(cam[None, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[
        0, 0
    ]
    cam = cam / cam.max() if cam.max() > 0 else cam  # (H, W) in [0, 1]
    img = image_for_display(loader_images(learn.dls.valid or learn.dls.train, x)[0])
    fig = new_figure(figsize, dpi=dpi, use_pyplot=path is None)
    plain, overlay = fig.subplots(1, 2)
    for ax in (plain, overlay):
        ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        ax.axis("off")
    heat = overlay.imshow(
        cam.cpu().numpy(), cmap=cmap, alpha=alpha, vmin=0, vmax=1, interpolation="bilinear"
    )
    plain.set_title("image", fontsize=13)
    overlay.set_title(f"Grad-CAM for class {_class_name(learn, cls)!r}", fontsize=13)
    bar = fig.colorbar(heat, ax=overlay, fraction=0.046, pad=0.03)
    bar.set_label("contribution to the class score (1 = most)", fontsize=11)
    bar.solids.set_alpha(1)  # the bar in full colour, not at the overlay's alpha
    fig.tight_layout()
    return save_figure(fig, path, dpi=dpi)


def _class_name(learn: Learner, cls: int) -> str:
    vocab: Sequence[Any] | None = learn.dls.vocab
    return str(vocab[cls]) if vocab is not None and cls < len(vocab) else str(cls)

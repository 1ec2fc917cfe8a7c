"""The PCA picture's labels as a reader needs them: none overlapping another or running off
the axes, the items at the ends of each component always named, and a note when a crowded
cloud leaves some out."""

from __future__ import annotations

import itertools

import pytest
import torch

from fastlearn.collab import plot_pca_labels

pytest.importorskip("matplotlib")


def label_boxes(fig):
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    return (
        {t.get_text(): t.get_window_extent(renderer) for t in ax.texts},
        ax.get_window_extent(renderer),
    )


def test_crowded_labels_neither_overlap_nor_leave_the_axes(tmp_path):
    g = torch.Generator().manual_seed(0)
    coords = torch.randn(80, 2, generator=g) * torch.tensor([1.0, 0.4])
    labels = [f"A rather long film title, number {i} (1990)" for i in range(80)]
    fig = plot_pca_labels(coords, labels, path=tmp_path / "pca.png", figsize=(8, 8))
    boxes, frame = label_boxes(fig)
    assert len(boxes) >= 20
    for a, b in itertools.combinations(boxes.values(), 2):
        assert not a.overlaps(b)
    assert all(
        frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1
        for b in boxes.values()
    )
    for axis in (0, 1):  # the ends of each component are named
        for i in (int(coords[:, axis].argmin()), int(coords[:, axis].argmax())):
            assert labels[i] in boxes
    notes = [t.get_text() for t in fig.texts]
    assert notes == [f"{80 - len(boxes)} of 80 labels left out (no room without overlapping)"]


def test_a_sparse_plot_names_every_point_beside_it(tmp_path):
    coords = torch.tensor([[0.0, 0.0], [1.0, 0.2], [-1.0, 0.5], [0.3, -1.0], [0.9, 0.9]])
    labels = ["Fargo (1996)", "Titanic (1997)", "Scream (1996)", "Alien (1979)", "Heat (1995)"]
    fig = plot_pca_labels(coords, labels, path=tmp_path / "pca.png")
    boxes, _ = label_boxes(fig)
    assert set(boxes) == set(labels) and fig.texts == []
    points = fig.axes[0].transData.transform(coords.numpy())
    for (x, y), label in zip(points, labels):
        box = boxes[label]  # within 10 points of its own point
        dx = max(box.x0 - x, x - box.x1, 0)
        dy = max(box.y0 - y, y - box.y1, 0)
        assert (dx**2 + dy**2) ** 0.5 <= 10 * fig.dpi / 72

"""Browse MNIST page by page in a notebook: ``DigitGridBrowser``.

Taught in notebook 06 (数据预览和装载); with ``model=`` it marks the wrong predictions
of a trained network (notebook 08 onwards). ``DigitGridState`` holds the state and draws
the page with PIL: plain Python, callable and testable without a browser.
``DigitGridBrowser`` only wires ipywidgets controls to it. Over 300 lines, one job: the browser,
its state and the drawing of its page belong together.
"""

from __future__ import annotations

import functools
import html
import io
import math
import os
from collections.abc import Callable
from pathlib import Path

import ipywidgets as widgets  # the "course" extra: pip install mnistlab[course]
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import nn
from torchvision import transforms

from .data import load_mnist, normalize
from .device import check_seed, model_device

__all__ = ["AUGMENTATIONS", "BATCH_SIZES", "GRID_WIDTH", "LANGUAGES", "MAX_SEED", "SPLITS", "DigitGridBrowser",
           "DigitGridState", "language", "render_grid", "render_message"]

#: The languages of the widgets' labels and captions: English, Simplified Chinese.
LANGUAGES = ("en", "zh")


def language(lang: str | None = None) -> str:
    """The language a widget speaks: ``lang`` when given, else ``$MNISTLAB_LANG``, else the notebook's folder.

    The Chinese notebooks (notebooks/zh/) run the same code as the English ones; their kernels start in a
    folder named ``zh``, so widgets made there speak Chinese without a ``lang=`` in the code.
    ``make lab-zh`` also sets ``MNISTLAB_LANG=zh``. Anything else than "en" or "zh" is a ValueError.
    """
    chosen = lang if lang is not None else os.environ.get("MNISTLAB_LANG", "").strip().lower() or (
        "zh" if Path.cwd().name == "zh" else "en")
    if chosen not in LANGUAGES:
        where = "lang" if lang is not None else "MNISTLAB_LANG"
        raise ValueError(f"{where}={chosen!r}: the widgets speak {' or '.join(map(repr, LANGUAGES))}")
    return chosen


#: The browser's words: captions and control labels, by language.
_WORDS = {
    "en": {"train": "train", "test": "test", "all": "all", "where": "{split} split, label {label}",
           "none": "no images: the {where} filter matches no image ({source})",
           "page": " | page {page}/{pages} | images {first}-{last} of {n}",
           "augmentation": " | augmentation {name}",
           "accuracy": " | accuracy {correct}/{shown} = {percent:.1f}%, {wrong} wrong (red)",
           "split_control": "split", "batch_control": "batch size", "label_control": "label",
           "augment_control": "augment", "page_slider": "page"},
    "zh": {"train": "训练集", "test": "测试集", "all": "全部", "where": "{split}，标签 {label}",
           "none": "没有图像：{where} 这一筛选条件没有匹配的图像（{source}）",
           "page": " | 第 {page}/{pages} 页 | 第 {first}-{last} 张，共 {n} 张",
           "augmentation": " | 数据增强 {name}",
           "accuracy": " | 准确率 {correct}/{shown} = {percent:.1f}%，{wrong} 个错误（红框）",
           "split_control": "数据集", "batch_control": "每页张数", "label_control": "标签",
           "augment_control": "数据增强", "page_slider": "页"},
}


SPLITS = ("train", "test")
BATCH_SIZES = (16, 32, 64)

#: The augmentations of notebook 06's gallery; each takes and returns a 28x28 PIL image.
AUGMENTATIONS: dict[str, Callable | None] = {
    "none": None,
    "Resize(14) + Pad(7)": transforms.Compose([transforms.Resize(14, antialias=True), transforms.Pad(7)]),
    "RandomRotation(15)": transforms.RandomRotation(15),
    "RandomRotation(180)": transforms.RandomRotation(180),
    "RandomAffine(10, translate=0.1)": transforms.RandomAffine(degrees=10, translate=(0.1, 0.1)),
    "RandomVerticalFlip": transforms.RandomVerticalFlip(p=0.5),
    "RandomHorizontalFlip": transforms.RandomHorizontalFlip(p=0.5),
}

NCOLS = 8  # digits per row
SCALE = 2  # each 28 px digit is drawn 56 px wide
PAD = 3  # frame around each digit (red when the prediction is wrong)
TEXT_H = 13  # strip under each digit for "label" or "pred/label"
BACKGROUND = (235, 235, 235)
RED = (220, 30, 30)
GRID_WIDTH = NCOLS * (28 * SCALE + 2 * PAD)  # pixels across a page of digits
#: The largest ``seed``: each digit's augmentation is seeded with ``seed * 1_000_003 + index`` (64 bits).
MAX_SEED = 2**32 - 1


@functools.cache
def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """PIL's built-in font, loaded once."""
    return ImageFont.load_default()


def _png(image: Image.Image) -> bytes:
    """Encode a PIL image as PNG bytes (fast compression: the picture is shown, not stored)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def render_grid(
    images: np.ndarray, texts: list[str] | None = None, wrong: list[bool] | None = None, ncols: int = NCOLS
) -> bytes:
    """Draw uint8 digits ``(N, 28, 28)`` in a grid, ``SCALE`` times larger, as PNG bytes.

    ``texts`` are written under the digits; ``wrong`` digits get a red frame and red text.
    """
    if images.ndim != 3 or images.dtype != np.uint8 or len(images) == 0:
        raise ValueError(f"expected a non-empty uint8 array (N, 28, 28), got {images.dtype} {images.shape}")
    n, h, w = images.shape
    tile_h, tile_w = h * SCALE, w * SCALE
    cell_w = tile_w + 2 * PAD
    cell_h = tile_h + 2 * PAD + (TEXT_H if texts else 0)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    # One cell per digit: background, a red frame for wrong ones, the digit scaled up in the middle.
    cells = np.empty((nrows * ncols, cell_h, cell_w, 3), dtype=np.uint8)
    cells[:] = BACKGROUND
    if wrong is not None:
        cells[np.flatnonzero(wrong), : tile_h + 2 * PAD] = RED
    big = images.repeat(SCALE, axis=1).repeat(SCALE, axis=2)
    cells[:n, PAD : PAD + tile_h, PAD : PAD + tile_w] = big[:, :, :, None]
    # (rows, cols, cell_h, cell_w, 3) -> one picture (rows * cell_h, cols * cell_w, 3)
    canvas = cells.reshape(nrows, ncols, cell_h, cell_w, 3).transpose(0, 2, 1, 3, 4)
    picture = Image.fromarray(canvas.reshape(nrows * cell_h, ncols * cell_w, 3))
    if texts:
        draw = ImageDraw.Draw(picture)
        for i, text in enumerate(texts):
            y = (i // ncols) * cell_h + tile_h + 2 * PAD
            x = (i % ncols) * cell_w + PAD
            colour = RED if wrong is not None and wrong[i] else (0, 0, 0)
            draw.text((x, y), text, fill=colour, font=_font())
    return _png(picture)


def render_message(message: str, width: int = GRID_WIDTH) -> bytes:
    """A plain PNG that says ``message`` (shown instead of an empty grid)."""
    picture = Image.new("RGB", (width, 40), BACKGROUND)
    ImageDraw.Draw(picture).text((10, 14), message, fill=(0, 0, 0), font=_font())
    return _png(picture)


class DigitGridState:
    """What the browser shows (split, page, batch size, label filter, augmentation) and how it draws it.

    ``source`` is ``"sample"``/``"full"`` (both splits, loaded when first shown) or one dataset with
    ``.data`` uint8 ``(N, 28, 28)`` and ``.targets`` (e.g. ``torchvision.datasets.MNIST``), browsed alone.
    A ``model`` takes normalised ``(N, 1, 28, 28)`` input (MNIST_MEAN/MNIST_STD) and returns 10 scores.
    Pages are numbered from 1, like the slider.
    """

    def __init__(
        self,
        source: str | object = "sample",
        split: str = "test",
        model: nn.Module | None = None,
        batch_size: int = 64,
        seed: int = 0,
        predict_batch: int = 1000,
        predictions: dict[str, object] | None = None,
        lang: str | None = None,
    ) -> None:
        self._check_settings(model, seed, predict_batch)
        self.lang = language(lang)
        self._data: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if isinstance(source, str):
            if source not in ("sample", "full"):
                raise ValueError(f"source must be 'sample', 'full' or an MNIST dataset, got {source!r}")
            self.source_name = source
            self.splits = SPLITS
        else:
            if not (hasattr(source, "data") and hasattr(source, "targets")):
                raise TypeError(
                    f"source must be 'sample', 'full' or a dataset with .data and .targets "
                    f"(torchvision.datasets.MNIST), got {type(source).__name__}"
                )
            if hasattr(source, "train"):
                split = "train" if source.train else "test"
            self._data[split] = self._check_arrays(source.data, source.targets)
            self.source_name = type(source).__name__
            self.splits = (split,)
        self.model = model
        self.seed = seed
        self.predict_batch = predict_batch
        self._predictions: dict[str, np.ndarray] = {}
        for name, values in (predictions or {}).items():  # already computed, e.g. by evaluate()
            if model is None:
                raise ValueError("predictions= needs model= too (the model is used for augmented pages)")
            self._predictions[self._valid_split(name)] = np.asarray(
                values.cpu() if isinstance(values, torch.Tensor) else values, dtype=np.int64
            )
        self.split = self._valid_split(split)
        self.batch_size = self._valid_batch_size(batch_size)
        self.label: str | int = "all"
        self.augmentation = "none"
        self.page = 1

    # ------------------------------------------------------------ checks

    @staticmethod
    def _check_settings(model: object, seed: object, predict_batch: object) -> None:
        """Refuse bad arguments here, not later inside a widget callback (which would leave it half drawn)."""
        if model is not None and not isinstance(model, nn.Module):
            raise TypeError(
                f"model must be a trained torch.nn.Module (e.g. the CNN of notebook 08) or None, "
                f"got {type(model).__name__}: {model!r:.40}"
            )
        check_seed(seed, maximum=MAX_SEED)
        if isinstance(predict_batch, bool) or not isinstance(predict_batch, int) or predict_batch < 1:
            raise ValueError(f"predict_batch must be a positive int, got {predict_batch!r}")

    @staticmethod
    def _check_arrays(data: object, targets: object) -> tuple[np.ndarray, np.ndarray]:
        data = np.asarray(data)
        targets = np.asarray(targets, dtype=np.int64)
        if data.ndim != 3 or data.shape[1:] != (28, 28) or data.dtype != np.uint8:
            raise ValueError(f"dataset .data must be uint8 (N, 28, 28), got {data.dtype} {data.shape}")
        if len(targets) != len(data):
            raise ValueError(f"dataset has {len(data)} images but {len(targets)} targets")
        return data, targets

    def _valid_split(self, split: str) -> str:
        if split not in SPLITS:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if split not in self.splits:
            raise ValueError(
                f"this browser was given one dataset (the {self.splits[0]} split), so it cannot show the "
                f"{split} split; pass source='sample' (or 'full') to browse both"
            )
        return split

    @staticmethod
    def _valid_batch_size(batch_size: int) -> int:
        if isinstance(batch_size, bool) or batch_size not in BATCH_SIZES:
            raise ValueError(f"batch_size must be one of {BATCH_SIZES}, got {batch_size!r}")
        return int(batch_size)

    # ------------------------------------------------------------ data

    def arrays(self, split: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The uint8 images ``(N, 28, 28)`` and int64 labels of a split, as NumPy arrays (loaded once)."""
        split = split or self.split
        if split not in self._data:
            dataset = load_mnist(train=split == "train", source=self.source_name)
            self._data[split] = self._check_arrays(dataset.data, dataset.targets)
        return self._data[split]

    def indices(self) -> np.ndarray:
        """Dataset indices of the images that pass the label filter, in dataset order."""
        _, targets = self.arrays()
        if self.label == "all":
            return np.arange(len(targets))
        return np.flatnonzero(targets == self.label)

    @property
    def num_pages(self) -> int:
        """How many pages the filtered images fill (at least 1, even when there are none)."""
        return max(1, math.ceil(len(self.indices()) / self.batch_size))

    def page_indices(self) -> np.ndarray:
        """Dataset indices shown on the current page."""
        start = (self.page - 1) * self.batch_size
        return self.indices()[start : start + self.batch_size]

    # ------------------------------------------------------------ setters (one per control)

    def set_split(self, split: str) -> None:
        """Show ``"train"`` or ``"test"``; back to page 1."""
        self.split = self._valid_split(split)
        self.page = 1

    def set_page(self, page: int) -> None:
        """Show page ``page`` (1 to ``num_pages``)."""
        if isinstance(page, bool) or not isinstance(page, (int, np.integer)) or not 1 <= page <= self.num_pages:
            raise ValueError(
                f"page must be an int from 1 to {self.num_pages} ({self.split} split, label {self.label}, "
                f"{self.batch_size} per page), got {page!r}"
            )
        self.page = int(page)

    def set_batch_size(self, batch_size: int) -> None:
        """Show 16, 32 or 64 digits per page, keeping the first digit of the page in view."""
        batch_size = self._valid_batch_size(batch_size)
        first = (self.page - 1) * self.batch_size
        self.batch_size = batch_size
        self.page = first // batch_size + 1

    def set_label(self, label: str | int) -> None:
        """Show only one digit (0-9), or ``"all"``; back to page 1."""
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool) and 0 <= label <= 9:
            label = int(label)
        elif label != "all":
            raise ValueError(f"label must be 'all' or a digit 0-9, got {label!r}")
        self.label = label
        self.page = 1

    def set_augmentation(self, name: str) -> None:
        """Apply one of ``AUGMENTATIONS`` to every digit shown (seeded per image: a page always looks the same)."""
        if name not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {name!r}; choose one of {list(AUGMENTATIONS)}")
        self.augmentation = name

    # ------------------------------------------------------------ images and predictions

    def page_images(self) -> np.ndarray:
        """The current page's uint8 digits ``(n, 28, 28)``, augmented if an augmentation is chosen.

        Each digit's random draw is seeded by its dataset index, so a digit always looks the same.
        The transforms work on PIL images (fast for single 28x28 digits) with torch's CPU generator.
        """
        images, _ = self.arrays()
        idx = self.page_indices()
        page = images[idx]
        transform = AUGMENTATIONS[self.augmentation]
        if transform is None or len(idx) == 0:
            return page
        out = np.empty_like(page)
        with torch.random.fork_rng(devices=[]):  # seeded draws that leave the notebook's random state alone
            for i, index in enumerate(idx.tolist()):
                torch.default_generator.manual_seed(self.seed * 1_000_003 + index)
                out[i] = np.asarray(transform(Image.fromarray(page[i])))
        return out

    def predict(self, images: np.ndarray) -> np.ndarray:
        """The model's predicted digits for uint8 images ``(N, 28, 28)``, in batches, in eval mode."""
        if self.model is None:
            raise ValueError("no model: pass model= to DigitGridState or DigitGridBrowser to see predictions")
        device = model_device(self.model)
        was_training = self.model.training
        self.model.eval()
        preds = []
        try:
            with torch.inference_mode():
                for start in range(0, len(images), self.predict_batch):
                    chunk = torch.from_numpy(images[start : start + self.predict_batch]).to(device)
                    x = normalize(chunk)
                    preds.append(self.model(x).argmax(dim=1).cpu())
        finally:
            self.model.train(was_training)
        return torch.cat(preds).numpy() if preds else np.empty(0, dtype=np.int64)

    def split_predictions(self, split: str | None = None) -> np.ndarray:
        """Predictions for every image of a split: computed once, then cached."""
        split = split or self.split
        if split not in self._predictions:
            self._predictions[split] = self.predict(self.arrays(split)[0])
        predictions = self._predictions[split]
        if len(predictions) != len(self.arrays(split)[1]):
            raise ValueError(
                f"predictions for split {split!r} has {len(predictions)} entries for "
                f"{len(self.arrays(split)[1])} images: pass the predictions of that whole split"
            )
        return predictions

    def page_predictions(self) -> np.ndarray | None:
        """Predictions for the digits on the page (of the augmented digits when augmenting); None without model."""
        if self.model is None:
            return None
        if self.augmentation == "none":
            return self.split_predictions()[self.page_indices()]
        return self.predict(self.page_images())

    # ------------------------------------------------------------ drawing

    def caption(self, preds: np.ndarray | None = None) -> str:
        """One line: what the page shows and, with a model, how many it got right (in ``self.lang``)."""
        words = _WORDS[self.lang]
        n = len(self.indices())
        label = words["all"] if self.label == "all" else self.label
        where = words["where"].format(split=words[self.split], label=label)
        if n == 0:
            return words["none"].format(where=where, source=self.source_name)
        start = (self.page - 1) * self.batch_size
        shown = min(self.batch_size, n - start)
        text = where + words["page"].format(page=self.page, pages=self.num_pages, first=start + 1,
                                            last=start + shown, n=n)
        if self.augmentation != "none":
            text += words["augmentation"].format(name=self.augmentation)
        if preds is not None:
            _, targets = self.arrays()
            correct = int((preds == targets[self.page_indices()]).sum())
            text += words["accuracy"].format(correct=correct, shown=shown, percent=100 * correct / shown,
                                             wrong=shown - correct)
        return text

    def render(self) -> tuple[bytes, str]:
        """The current page as PNG bytes, and its caption."""
        idx = self.page_indices()
        if len(idx) == 0:
            # the caption says it in words; the picture stays free of text a font might lack (Chinese)
            message = f"no images with label {self.label} in the {self.split} split" if self.lang == "en" else ""
            return render_message(message), self.caption()
        images = self.page_images()
        labels = self.arrays()[1][idx].tolist()
        preds = self.page_predictions()
        wrong = None
        texts = [str(label) for label in labels]
        if preds is not None:
            wrong = [p != t for p, t in zip(preds.tolist(), labels, strict=True)]
            texts = [f"{p}/{t}" for p, t in zip(preds.tolist(), labels, strict=True)]
        return render_grid(images, texts, wrong), self.caption(preds)

    def describe(self) -> str:
        """The settings, as a short deterministic text (used by the widget's repr)."""
        model = "None" if self.model is None else type(self.model).__name__
        return (
            f"split={self.split!r}, page={self.page}/{self.num_pages}, batch_size={self.batch_size}, "
            f"label={self.label!r}, augmentation={self.augmentation!r}, model={model}"
        )


class DigitGridBrowser(widgets.VBox):
    """An ipywidgets browser of MNIST digits: split, page, batch size, label filter, augmentation, predictions.

    ``DigitGridBrowser()`` shows the sample's test split; ``model=net`` marks wrong predictions in red.
    ``source`` and the keyword options (``split``, ``model``, ``batch_size``, ``seed``, ``predictions``, ...)
    are ``DigitGridState``'s, passed on unchanged. All the logic is in ``self.state``; the controls only
    call its setters.
    """

    def __init__(self, source: str | object = "sample", lang: str | None = None, **state_options: object) -> None:
        w = widgets
        self.state = DigitGridState(source, lang=lang, **state_options)
        words = _WORDS[self.state.lang]
        self._syncing = False
        self.split_control = w.Dropdown(
            options=[(words[split], split) for split in SPLITS], value=self.state.split,
            description=words["split_control"],
            disabled=len(self.state.splits) == 1, layout=w.Layout(width="170px"),
        )
        self.batch_control = w.Dropdown(
            options=list(BATCH_SIZES), value=self.state.batch_size, description=words["batch_control"],
            layout=w.Layout(width="170px"),
        )
        self.label_control = w.Dropdown(
            options=[(words["all"], "all")] + [(str(d), d) for d in range(10)], value="all",
            description=words["label_control"],
            layout=w.Layout(width="150px"),
        )
        self.augment_control = w.Dropdown(
            options=list(AUGMENTATIONS), value="none", description=words["augment_control"],
            layout=w.Layout(width="330px")
        )
        self.page_slider = w.IntSlider(
            value=1, min=1, max=self.state.num_pages, description=words["page_slider"], continuous_update=False,
            layout=w.Layout(width="520px"),
        )
        # shown at its own size, not stretched to the cell
        self.image = w.Image(format="png", layout=w.Layout(width=f"{GRID_WIDTH}px"))
        self.caption = w.HTML()
        controls = [
            (self.split_control, self.state.set_split),
            (self.batch_control, self.state.set_batch_size),
            (self.label_control, self.state.set_label),
            (self.augment_control, self.state.set_augmentation),
            (self.page_slider, self.state.set_page),
        ]
        for control, setter in controls:
            control.observe(self._on_change(setter), names="value")
        super().__init__(
            children=[
                w.HBox([self.split_control, self.batch_control, self.label_control]),
                w.HBox([self.augment_control]),
                self.page_slider,
                self.image,
                self.caption,
            ]
        )
        self.refresh()

    def _on_change(self, setter: Callable) -> Callable:
        def handler(change: dict) -> None:
            if self._syncing:
                return
            setter(change["new"])
            self.refresh()

        return handler

    def refresh(self) -> None:
        """Redraw the page and bring the controls in line with the state (e.g. the slider's range)."""
        png, caption = self.state.render()
        self._syncing = True
        try:
            self.page_slider.max = self.state.num_pages
            self.page_slider.value = self.state.page
            self.image.value = png
            self.caption.value = html.escape(caption)
        finally:
            self._syncing = False

    def __repr__(self) -> str:
        return f"DigitGridBrowser({self.state.describe()})"

"""Draw your own digit: ``DigitPad``, a drawing pad that shows what a trained CNN receives and what it answers.

Taught at the end of notebook 08 (模型训练和优化). A student draws with the mouse or a finger; after each
stroke the pad shows the 28x28 image the model receives, once as a plain resize of the whole canvas and once
after MNIST's own preprocessing (``mnistlab.data.to_mnist_style``: crop to the ink, fit into 20x20, centre by
centre of mass), and the model's ten probabilities as a bar chart with its top guess named. A checkbox feeds
the model either image, so the class sees what the preprocessing changes.

Three parts: ``DigitPadState`` holds the logic (ink in; preview images, probabilities and messages out),
plain Python, testable without a browser; ``DrawingCanvas`` is the drawing surface, an anywidget whose few
lines of JavaScript (below, shipped inside this module: nothing is fetched at run time) draw in the browser
and send the canvas to the kernel once per stroke; ``DigitPad`` wires them to ipywidgets controls.
anywidget rather than ipycanvas: the strokes are drawn by the browser itself, so a mouse move costs no
message to the kernel, and anywidget is a small pure-Python package whose front end comes in its wheel.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from dataclasses import dataclass

import anywidget  # the "course" extra: pip install mnistlab[course]
import ipywidgets as widgets
import numpy as np
import torch
import traitlets
from PIL import Image, ImageDraw
from torch import nn

from .data import MNIST_CENTRE, MNIST_MEAN, MNIST_STD, centre_of_mass, ink_extent, to_mnist_style, too_little_ink
from .device import model_device
from .widgets import language

__all__ = ["PREVIEW_SCALE", "TEXTS", "DigitPad", "DigitPadState", "DrawingCanvas", "PadView", "ink_problem",
           "plain_resize", "render_bars", "render_preview"]

#: Each pixel of a 28x28 preview is drawn this many screen pixels wide.
PREVIEW_SCALE = 5
BOX_COLOUR = (70, 130, 230)  # the ink's bounding box and the field's centre
MASS_COLOUR = (235, 60, 60)  # the ink's centre of mass
BAR_COLOUR, TOP_COLOUR = "#9db7d9", "#e8710a"

#: The pad's words, in English and Chinese (``mnistlab.widgets.language`` chooses).
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "hint": "Draw a digit (0-9) in the black square with the mouse or a finger; the model answers after each "
                "stroke.",
        "clear": "Clear",
        "toggle": "MNIST's preprocessing",
        "plain": "plain resize to 28×28",
        "mnist": "MNIST-style: cropped, fitted into 20×20, centred",
        "model_input": "the model's input",
        "legend": "blue: the ink's bounding box and the centre of MNIST's digits; red dot: the ink's centre of mass",
        "probabilities": "The model's probabilities",
        "guess": "The model reads a <b>{digit}</b> ({percent}).",
        "other_plain": "Without MNIST's preprocessing it would read a {digit} ({percent}).",
        "other_mnist": "With MNIST's preprocessing it would read a {digit} ({percent}).",
        "empty": "The canvas is empty: draw a digit.",
        "dot": "Too little ink to preprocess (a dot?): draw a whole digit, or switch MNIST's preprocessing off to "
               "see what a plain resize gives.",
        "bad": "Could not read the drawing: {reason}",
    },
    "zh": {
        "hint": "用鼠标或手指在黑色方框里写一个数字（0-9）；每写完一笔，模型就给出它的判断。",
        "clear": "清除",
        "toggle": "MNIST 预处理",
        "plain": "整幅直接缩放到 28×28",
        "mnist": "MNIST 式：裁剪、缩放进 20×20、按质心居中",
        "model_input": "模型的输入",
        "legend": "蓝框：笔迹的外接矩形；蓝色十字：MNIST 数字的质心位置；红点：笔迹的质心",
        "probabilities": "模型给出的概率",
        "guess": "模型认为这是 <b>{digit}</b>（{percent}）。",
        "other_plain": "不做 MNIST 预处理，它会认为是 {digit}（{percent}）。",
        "other_mnist": "做了 MNIST 预处理，它会认为是 {digit}（{percent}）。",
        "empty": "画布是空的：请写一个数字。",
        "dot": "笔迹太少，无法预处理（只有一个点？）：请写一个完整的数字，或关闭 MNIST 预处理，看看直接缩放的结果。",
        "bad": "无法读取画布：{reason}",
    },
}


# ---------------------------------------------------------------- the images


def _pixels(image: object) -> np.ndarray:
    """A 2-D image as float64 pixels in [0, 1] (values above 1 are read as 0-255); ValueError if not 2-D."""
    pixels = np.asarray(image.detach().cpu() if isinstance(image, torch.Tensor) else image, dtype=np.float64)
    if pixels.ndim != 2 or min(pixels.shape) < 1:
        raise ValueError(f"expected one 2-D image (height, width), found shape {pixels.shape}")
    return pixels / 255 if pixels.max() > 1 else pixels


def plain_resize(image: object) -> torch.Tensor:
    """The whole image scaled to 28x28, nothing else: float pixels in [0, 1], shape ``(28, 28)``.

    What a model receives from a canvas when MNIST's preprocessing is left out. Each output pixel is the
    average of the canvas pixels it covers (a 280x280 canvas: 10x10 each).
    """
    x = torch.from_numpy(_pixels(image))
    small = torch.nn.functional.interpolate(x[None, None], size=(28, 28), mode="area")
    return small[0, 0].clamp_(0, 1).to(torch.float32)


def ink_problem(image: object) -> str | None:
    """Why ``to_mnist_style`` would refuse this drawing: ``"empty"``, ``"dot"`` (too little ink) or None (fine).

    The same rules as ``to_mnist_style`` (``mnistlab.data.ink_extent`` and ``too_little_ink``), so the pad can
    say it in words of its language.
    """
    pixels = torch.from_numpy(_pixels(image))
    extent = ink_extent(pixels)
    if extent is None:
        return "empty"
    return "dot" if too_little_ink(extent, pixels.shape) else None


def _png(picture: Image.Image) -> bytes:
    buf = io.BytesIO()
    picture.save(buf, format="PNG", compress_level=1)  # shown, not stored: fast compression
    return buf.getvalue()


def render_preview(image: torch.Tensor | np.ndarray | None, scale: int = PREVIEW_SCALE) -> bytes:
    """A 28x28 image (pixels in [0, 1]) as PNG bytes, ``scale`` times larger, marked in colour.

    Blue: the ink's bounding box (pixels of at least ``INK_LEVEL``; after MNIST's preprocessing its longer
    side is ``MNIST_BOX``) and a cross on pixel (``MNIST_CENTRE``, ``MNIST_CENTRE``), where MNIST's digits have
    their centre of mass; red: the ink's centre of mass. ``None`` (nothing to show) gives a dark grey field.
    """
    if image is None:
        pixels = np.full((28, 28), 0.15)
    else:
        pixels = np.asarray(image, dtype=np.float64).clip(0, 1)
        if pixels.shape != (28, 28):
            raise ValueError(f"expected a 28x28 image, got shape {pixels.shape}")
    grey = (pixels * 255).round().astype(np.uint8).repeat(scale, axis=0).repeat(scale, axis=1)
    picture = Image.fromarray(np.stack([grey] * 3, axis=-1))
    draw = ImageDraw.Draw(picture)
    extent = ink_extent(torch.from_numpy(pixels)) if image is not None else None
    if extent is not None:
        top, bottom, left, right = extent
        draw.rectangle([left * scale, top * scale, right * scale - 1, bottom * scale - 1], outline=BOX_COLOUR)
    centre = (MNIST_CENTRE + 0.5) * scale
    draw.line([centre - 2 * scale, centre, centre + 2 * scale, centre], fill=BOX_COLOUR)
    draw.line([centre, centre - 2 * scale, centre, centre + 2 * scale], fill=BOX_COLOUR)
    if extent is not None:
        row, col = centre_of_mass(torch.from_numpy(pixels))
        y, x = (row + 0.5) * scale, (col + 0.5) * scale
        draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=MASS_COLOUR)
    return _png(picture)


def render_bars(probabilities: Sequence[float] | None, title: str = "") -> str:
    """The ten probabilities as an HTML bar chart (one row per digit, the top one in orange); None: no bars."""
    if probabilities is None:
        return f"<div class='mnistlab-pad-bars'><b>{html.escape(title)}</b><br>–</div>"
    probabilities = [float(p) for p in probabilities]
    if len(probabilities) != 10:
        raise ValueError(f"expected 10 probabilities, got {len(probabilities)}")
    top = int(np.argmax(probabilities))
    rows = []
    for digit, p in enumerate(probabilities):
        colour, weight = (TOP_COLOUR, "bold") if digit == top else (BAR_COLOUR, "normal")
        rows.append(
            f"<div class='mnistlab-pad-bar' data-digit='{digit}' data-p='{p:.4f}' style='display:flex;"
            f"align-items:center;gap:6px;height:17px;font-family:monospace;font-weight:{weight}'>"
            f"<span style='width:1em'>{digit}</span><span style='display:inline-block;width:160px;height:11px;"
            f"background:#eee'><span style='display:block;width:{100 * p:.1f}%;height:100%;background:{colour}'>"
            f"</span></span><span>{p:.0%}</span></div>"
        )
    return f"<div class='mnistlab-pad-bars'><b>{html.escape(title)}</b>{''.join(rows)}</div>"


# ---------------------------------------------------------------- the state


@dataclass
class PadView:
    """What the pad shows: two preview PNGs with their titles, the bar chart (HTML) and one line of text."""

    plain_png: bytes
    mnist_png: bytes
    plain_title: str
    mnist_title: str
    bars: str
    message: str
    is_error: bool


class DigitPadState:
    """The pad's logic: a drawing in; the two 28x28 images, the model's probabilities and messages out.

    ``model`` takes normalised ``(N, 1, 28, 28)`` input (MNIST_MEAN/MNIST_STD) and returns 10 scores (e.g.
    notebook 08's CompactCNN). ``lang``: ``"en"``, ``"zh"`` or None (``mnistlab.widgets.language`` decides).
    ``set_ink`` takes the canvas after a stroke: a 2-D array, 0-255 or 0-1, ink bright on dark.
    """

    def __init__(self, model: nn.Module, lang: str | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"model must be a trained torch.nn.Module (e.g. notebook 08's CompactCNN), got {type(model).__name__}"
            )
        self.model = model
        self.lang = language(lang)
        self.text = TEXTS[self.lang]
        self.preprocess = True
        self.clear()

    def clear(self) -> None:
        """Forget the drawing: empty previews, no probabilities."""
        self.plain: torch.Tensor | None = None  # (28, 28) in [0, 1]
        self.mnist: torch.Tensor | None = None  # (28, 28) in [0, 1], MNIST-style
        self.probabilities: dict[str, np.ndarray] = {}  # "plain" / "mnist" -> 10 probabilities
        self.problem: str | None = "empty"  # "empty", "dot", "bad" or None
        self.reason = ""

    def refuse(self, reason: str) -> None:
        """Show ``reason`` instead of a drawing (a message from the browser that the pad cannot read)."""
        self.clear()
        self.problem, self.reason = "bad", reason

    def set_preprocess(self, on: bool) -> None:
        """Feed the model the MNIST-style image (True) or the plain resize (False)."""
        if not isinstance(on, (bool, np.bool_)):
            raise TypeError(f"preprocess must be True or False, got {on!r}")
        self.preprocess = bool(on)

    def set_ink(self, ink: object) -> None:
        """A new drawing (the whole canvas): compute both 28x28 images and the model's answers to each.

        A wrong shape raises ValueError (the widget shows its message); an empty canvas or a dot is no error:
        ``problem`` says which, and the plain resize is still shown (and predicted, unless the canvas is empty).
        """
        self.clear()
        ink = _pixels(ink)  # once per stroke: the canvas as pixels in [0, 1], for all three readings below
        self.plain = plain_resize(ink)
        self.problem = ink_problem(ink)
        if self.problem is None:
            try:
                self.mnist = to_mnist_style(ink, normalize=False)[0, 0]
            except ValueError as exc:  # e.g. a bright background: to_mnist_style says why
                self.problem, self.reason = "bad", str(exc)
        if self.problem == "empty":
            return
        images = {"plain": self.plain} if self.mnist is None else {"plain": self.plain, "mnist": self.mnist}
        self.probabilities = dict(zip(images, self.predict(torch.stack(list(images.values()))), strict=True))

    def predict(self, images: torch.Tensor) -> np.ndarray:
        """The model's probabilities ``(N, 10)`` for images ``(N, 28, 28)`` in [0, 1], in eval mode."""
        x = ((images - MNIST_MEAN) / MNIST_STD).unsqueeze(1).to(model_device(self.model))
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                return self.model(x).softmax(dim=1).float().cpu().numpy()
        finally:
            self.model.train(was_training)

    @property
    def mode(self) -> str:
        """Which image the model is fed: ``"mnist"`` or ``"plain"``."""
        return "mnist" if self.preprocess else "plain"

    def guess(self, mode: str | None = None) -> tuple[int, float] | None:
        """The top digit and its probability for the image of ``mode`` (default: the one fed), or None."""
        probabilities = self.probabilities.get(mode or self.mode)
        if probabilities is None:
            return None
        top = int(probabilities.argmax())
        return top, float(probabilities[top])

    def message(self) -> tuple[str, bool]:
        """The line under the pad (HTML) and whether it reports a problem."""
        t = self.text
        if self.problem == "empty":
            return html.escape(t["hint"] if self.plain is None else t["empty"]), self.plain is not None
        guess = self.guess()
        if guess is None:  # the preprocessing was refused and is switched on
            reason = t["dot"] if self.problem == "dot" else t["bad"].format(reason=self.reason)
            return html.escape(reason), True
        line = t["guess"].format(digit=guess[0], percent=f"{guess[1]:.0%}")
        other = self.guess("plain" if self.preprocess else "mnist")
        if other is not None:
            key = "other_plain" if self.preprocess else "other_mnist"
            line += " " + t[key].format(digit=other[0], percent=f"{other[1]:.0%}")
        return line, False

    def render(self) -> PadView:
        """Everything the pad shows, for the current drawing and setting."""
        t = self.text
        fed = f"<br><b>→ {html.escape(t['model_input'])}</b>"
        message, is_error = self.message()
        return PadView(
            plain_png=render_preview(self.plain),
            mnist_png=render_preview(self.mnist),
            plain_title=html.escape(t["plain"]) + (fed if not self.preprocess else ""),
            mnist_title=html.escape(t["mnist"]) + (fed if self.preprocess else ""),
            bars=render_bars(self.probabilities.get(self.mode), t["probabilities"]),
            message=message,
            is_error=is_error,
        )

    def describe(self) -> str:
        """The settings and the current answer, as a short text (used by the widget's repr)."""
        guess = self.guess()
        answer = "none" if guess is None else str(guess[0])
        return f"model={type(self.model).__name__}, preprocess={self.preprocess}, guess={answer}"


# ---------------------------------------------------------------- the widgets

# The drawing surface, run by the browser: white strokes on a black square (pointer events: mouse, pen or
# finger). At each stroke's end it sends the canvas's red channel, one byte per pixel, to the kernel.
_CANVAS_JS = r"""
export default {
  render({ model, el }) {
    const size = model.get("size");
    const canvas = document.createElement("canvas");
    canvas.width = size;
    canvas.height = size;
    canvas.className = "mnistlab-pad-canvas";
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    const clear = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, size, size); };
    clear();
    let last = null;
    const at = (e) => {
      const r = canvas.getBoundingClientRect();
      return [(e.clientX - r.left) * size / r.width, (e.clientY - r.top) * size / r.height];
    };
    canvas.addEventListener("pointerdown", (e) => {
      e.preventDefault();
      canvas.setPointerCapture(e.pointerId);
      last = at(e);
      ctx.fillStyle = "#fff";
      ctx.beginPath();
      ctx.arc(last[0], last[1], model.get("brush") / 2, 0, 2 * Math.PI);
      ctx.fill();
    });
    canvas.addEventListener("pointermove", (e) => {
      if (last === null) return;
      const p = at(e);
      ctx.strokeStyle = "#fff";
      ctx.lineWidth = model.get("brush");
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      ctx.beginPath();
      ctx.moveTo(last[0], last[1]);
      ctx.lineTo(p[0], p[1]);
      ctx.stroke();
      last = p;
    });
    const end = () => {
      if (last === null) return;
      last = null;
      const rgba = ctx.getImageData(0, 0, size, size).data;
      const ink = new Uint8Array(size * size);
      for (let i = 0; i < ink.length; i++) ink[i] = rgba[4 * i];
      model.send({ type: "ink", height: size, width: size }, undefined, [ink.buffer]);
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    const onMessage = (msg) => { if (msg && msg.type === "clear") clear(); };
    model.on("msg:custom", onMessage);
    el.appendChild(canvas);
    return () => model.off("msg:custom", onMessage);
  },
};
"""

_CANVAS_CSS = """
.mnistlab-pad-canvas { touch-action: none; cursor: crosshair; border: 1px solid #888; display: block; }
"""


class DrawingCanvas(anywidget.AnyWidget):
    """A black square to draw on in white; at each stroke's end the browser sends the canvas to the kernel.

    The message is ``{"type": "ink", "height": size, "width": size}`` with one buffer, ``size * size`` bytes
    (0 black, 255 white, anti-aliased between); ``on_msg`` receives it. ``clear()`` empties the canvas.
    """

    _esm = _CANVAS_JS
    _css = _CANVAS_CSS
    size = traitlets.Int(280).tag(sync=True)
    brush = traitlets.Float(22.0).tag(sync=True)

    def clear(self) -> None:
        """Empty the canvas in the browser."""
        self.send({"type": "clear"})


class DigitPad(widgets.VBox):
    """Draw a digit; see the 28x28 image the model receives, with and without MNIST's preprocessing, and its answer.

    ``DigitPad(model)`` with a trained model (notebook 08's ``compact``); ``lang`` as in ``DigitPadState``;
    ``size`` is the canvas's side in screen pixels, ``brush`` the pen's width. All the logic is in
    ``self.state``; the controls only call it. Problems (an empty canvas, a dot, a message the pad cannot
    read) are shown as a line of text under the pad, never as a traceback.
    """

    def __init__(self, model: nn.Module, lang: str | None = None, size: int = 280, brush: float = 22.0) -> None:
        w = widgets
        self.state = DigitPadState(model, lang=lang)
        t = self.state.text
        if isinstance(size, bool) or not isinstance(size, int) or not 56 <= size <= 1000:
            raise ValueError(f"size must be an int from 56 to 1000 (screen pixels), got {size!r}")
        if not 1 <= brush <= size / 4:
            raise ValueError(f"brush must be from 1 to size / 4 = {size / 4:g} pixels, got {brush!r}")
        self.canvas = DrawingCanvas(size=size, brush=float(brush))
        self.clear_button = w.Button(description=t["clear"], icon="eraser", layout=w.Layout(width="110px"))
        self.preprocess_toggle = w.Checkbox(value=True, description=t["toggle"], indent=False,
                                            layout=w.Layout(width="auto"))
        preview = w.Layout(width=f"{28 * PREVIEW_SCALE}px", height=f"{28 * PREVIEW_SCALE}px")
        self.plain_image = w.Image(format="png", layout=preview)
        self.mnist_image = w.Image(format="png", layout=preview)
        title = w.Layout(width=f"{28 * PREVIEW_SCALE + 20}px", height="52px")  # 3 lines: the images align
        self.plain_title, self.mnist_title = w.HTML(layout=title), w.HTML(layout=title)
        self.bars = w.HTML()
        self.message = w.HTML()
        legend = w.HTML(f"<small>{html.escape(t['legend'])}</small>")
        self.canvas.on_msg(self._on_canvas_message)
        self.clear_button.on_click(lambda _button: self.clear())
        self.preprocess_toggle.observe(self._on_toggle, names="value")
        previews = w.HBox([w.VBox([self.plain_title, self.plain_image]), w.VBox([self.mnist_title, self.mnist_image])])
        super().__init__(
            children=[
                w.HBox([w.VBox([self.canvas, w.HBox([self.clear_button, self.preprocess_toggle])],
                              layout=w.Layout(width=f"{size + 8}px", min_width="240px")),
                        w.VBox([previews, legend, self.bars], layout=w.Layout(margin="0 0 0 16px"))]),
                self.message,
            ]
        )
        self.refresh()

    def handle_stroke(self, content: dict, buffers: Sequence[bytes | memoryview]) -> None:
        """A stroke has ended: read the canvas from the browser's message, update the state, redraw.

        Whatever goes wrong is shown as the pad's message line: a callback's exception would otherwise land
        in JupyterLab's log, where no student sees it.
        """
        try:
            height, width = int(content["height"]), int(content["width"])
            if len(buffers) != 1 or len(buffers[0]) != height * width:
                sizes = [len(b) for b in buffers]
                raise ValueError(f"expected one buffer of {height}x{width} bytes, got buffers of {sizes} bytes")
            ink = np.frombuffer(buffers[0], dtype=np.uint8).reshape(height, width)
            self.state.set_ink(ink)
        except Exception as exc:  # shown to the student, not raised into the comm's handler
            self.state.refuse(f"{type(exc).__name__}: {exc}")
        self.refresh()

    def _on_canvas_message(self, _widget: DrawingCanvas, content: dict, buffers: list) -> None:
        if isinstance(content, dict) and content.get("type") == "ink":
            self.handle_stroke(content, buffers)

    def _on_toggle(self, change: dict) -> None:
        self.state.set_preprocess(change["new"])
        self.refresh()

    def clear(self) -> None:
        """Empty the canvas and the previews."""
        self.canvas.clear()
        self.state.clear()
        self.refresh()

    def refresh(self) -> None:
        """Redraw the previews, the bars and the message from the state."""
        view = self.state.render()
        self.plain_image.value = view.plain_png
        self.mnist_image.value = view.mnist_png
        small = "<div style='font-size:12px;line-height:1.3'>{}</div>"
        self.plain_title.value = small.format(view.plain_title)
        self.mnist_title.value = small.format(view.mnist_title)
        self.bars.value = view.bars
        colour = "#c0392b" if view.is_error else "inherit"
        kind = "error" if view.is_error else "ok"
        self.message.value = f"<div class='mnistlab-pad-message' data-kind='{kind}' style='color:{colour}'>" \
                             f"{view.message}</div>"

    def __repr__(self) -> str:
        return f"DigitPad({self.state.describe()})"

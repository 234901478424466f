"""DigitPad and its state, without a browser: strokes in; previews, probabilities and messages out; both languages.

The browser's part (drawing with the mouse, the message at each stroke's end) is tested in tests/test_browser.py.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from torch import nn

from mnistlab.data import MNIST_CENTRE, MNIST_MEAN, MNIST_STD, to_mnist_style
from mnistlab.pad import (
    BOX_COLOUR,
    MASS_COLOUR,
    PREVIEW_SCALE,
    TEXTS,
    DigitPad,
    DigitPadState,
    DrawingCanvas,
    ink_problem,
    plain_resize,
    render_bars,
    render_preview,
)

SIZE = 280


class WhereIsTheInk(nn.Module):
    """Answers 3 when the ink's centre of mass is near MNIST's centre (14, 14), else 8; records each call."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1))
        self.calls: list[dict] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append({"x": x.clone(), "training": self.training, "inference": torch.is_inference_mode_enabled()})
        pixels = x[:, 0] * MNIST_STD + MNIST_MEAN
        index = torch.arange(28, dtype=x.dtype)
        total = pixels.sum(dim=(1, 2))
        row = (pixels.sum(dim=2) * index).sum(dim=1) / total
        col = (pixels.sum(dim=1) * index).sum(dim=1) / total
        centred = ((row - MNIST_CENTRE) ** 2 + (col - MNIST_CENTRE) ** 2).sqrt() < 2
        logits = torch.zeros(len(x), 10)
        logits[:, 3] = 2.0 * centred
        logits[:, 8] = 2.0 * ~centred
        return logits * self.weight


class Broken(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("this model is broken")


def corner_stroke(size: int = SIZE) -> np.ndarray:
    """A "7" drawn small in the top left corner of a size x size canvas, white on black, uint8."""
    picture = Image.new("L", (size, size))
    s = size / 280
    ImageDraw.Draw(picture).line([(20 * s, 20 * s), (90 * s, 20 * s), (45 * s, 110 * s)], fill=255, width=round(22 * s))
    return np.asarray(picture).copy()


def dot(size: int = SIZE) -> np.ndarray:
    """One click of the pad's brush: a disc 22 pixels across."""
    picture = Image.new("L", (size, size))
    ImageDraw.Draw(picture).ellipse([130, 130, 151, 151], fill=255)
    return np.asarray(picture).copy()


def message_to_pad(ink: np.ndarray) -> tuple[dict, list[bytes]]:
    """What the browser sends at a stroke's end."""
    return {"type": "ink", "height": ink.shape[0], "width": ink.shape[1]}, [ink.astype(np.uint8).tobytes()]


def decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def probabilities(bars: str) -> list[float]:
    return [float(p) for p in re.findall(r"data-p='([0-9.]+)'", bars)]


# ---------------------------------------------------------------- helpers


def test_plain_resize_shrinks_the_whole_canvas_and_nothing_else():
    canvas = np.zeros((SIZE, SIZE), dtype=np.uint8)
    canvas[:10, -10:] = 255  # one 10 x 10 cell in the top right corner
    small = plain_resize(canvas)
    assert small.shape == (28, 28) and small.dtype == torch.float32
    assert small[0, 27].item() == pytest.approx(1.0) and small.sum().item() == pytest.approx(1.0, abs=1e-4)
    torch.testing.assert_close(plain_resize(canvas / 255), small)  # 0-1 and 0-255 alike
    torch.testing.assert_close(plain_resize(torch.from_numpy(canvas)), small)
    with pytest.raises(ValueError, match=r"one 2-D image \(height, width\), found shape \(1, 280, 280\)"):
        plain_resize(canvas[None])


@pytest.mark.parametrize(
    ("image", "problem"),
    [(np.zeros((SIZE, SIZE)), "empty"), (np.full((SIZE, SIZE), 20), "empty"), (dot(), "dot"),
     (corner_stroke(), None), (corner_stroke(28), None)],
    ids=["empty", "faint", "a dot", "a stroke", "a small stroke"],
)
def test_ink_problem_says_what_to_mnist_style_refuses(image, problem):
    assert ink_problem(image) == problem
    if problem is None:
        assert to_mnist_style(image).shape == (1, 1, 28, 28)
    else:
        with pytest.raises(ValueError, match={"empty": "empty", "dot": "too little ink"}[problem]):
            to_mnist_style(image)


def test_render_preview_marks_the_ink_box_the_centre_and_the_centre_of_mass():
    image = torch.zeros(28, 28)
    image[2:8, 3:6] = 1.0  # ink in the top left: box rows 2-7, columns 3-5; centre of mass (4.5, 4)
    picture = decode(render_preview(image))
    scale = PREVIEW_SCALE
    assert picture.shape == (28 * scale, 28 * scale, 3)
    red = np.argwhere((picture == MASS_COLOUR).all(axis=-1))
    assert red.mean(axis=0) == pytest.approx([(4.5 + 0.5) * scale, (4 + 0.5) * scale], abs=1)
    blue = (picture == BOX_COLOUR).all(axis=-1)
    assert blue[2 * scale, 3 * scale : 6 * scale].all() and blue[8 * scale - 1, 3 * scale : 6 * scale].all()  # the box
    centre = int((MNIST_CENTRE + 0.5) * scale)
    assert blue[centre - scale : centre + scale, centre].all()  # the cross on MNIST's centre
    assert tuple(picture[0, 0]) == (0, 0, 0) and tuple(picture[3 * scale + 2, 4 * scale + 2]) == (255, 255, 255)


def test_render_preview_of_nothing_is_a_grey_field_without_marks_of_ink():
    picture = decode(render_preview(None))
    assert tuple(picture[0, 0]) == (38, 38, 38)
    assert not (picture == MASS_COLOUR).all(axis=-1).any()
    with pytest.raises(ValueError, match=r"28x28 image, got shape \(27, 28\)"):
        render_preview(np.zeros((27, 28)))


def test_render_bars_draws_ten_rows_and_names_the_top_one():
    p = [0.01] * 10
    p[7] = 0.91
    bars = render_bars(p, "probabilities")
    assert probabilities(bars) == pytest.approx(p)
    assert bars.count("class='mnistlab-pad-bar'") == 10 and "91%" in bars and "<b>probabilities</b>" in bars
    top = re.search(r"data-digit='7'.*?</div>", bars).group(0)
    assert "font-weight:bold" in top and "#e8710a" in top and "width:91.0%" in top
    assert "font-weight:bold" not in re.search(r"data-digit='3'.*?</div>", bars).group(0)
    assert "–" in render_bars(None, "x") and "data-p" not in render_bars(None, "x")
    assert "&lt;script&gt;" in render_bars(p, "<script>")
    with pytest.raises(ValueError, match="expected 10 probabilities, got 9"):
        render_bars(p[:9])


# ---------------------------------------------------------------- the state


def test_the_state_shows_both_images_and_the_model_reads_the_one_fed():
    state = DigitPadState(WhereIsTheInk(), lang="en")
    state.set_ink(corner_stroke())
    assert state.problem is None and state.mode == "mnist"
    # the plain resize keeps the drawing small in the corner; MNIST's preprocessing centres it
    torch.testing.assert_close(state.mnist, to_mnist_style(corner_stroke(), normalize=False)[0, 0])
    assert state.plain[:12, :12].sum() == pytest.approx(state.plain.sum())
    assert state.guess("mnist")[0] == 3 and state.guess("plain")[0] == 8 and state.guess() == state.guess("mnist")
    line, is_error = state.message()
    assert not is_error
    assert line == ("The model reads a <b>3</b> (45%). Without MNIST's preprocessing it would read a 8 (45%).")
    view = state.render()
    assert "→" in view.mnist_title and "→" not in view.plain_title and np.argmax(probabilities(view.bars)) == 3

    state.set_preprocess(False)
    assert state.mode == "plain" and state.guess()[0] == 8
    assert state.message()[0].startswith("The model reads a <b>8</b>") and "With MNIST's preprocessing" in \
        state.message()[0]
    view = state.render()
    assert "→" in view.plain_title and "→" not in view.mnist_title and np.argmax(probabilities(view.bars)) == 8
    assert "preprocess=False, guess=8" in state.describe()
    with pytest.raises(TypeError, match="True or False"):
        state.set_preprocess("no")


def test_the_model_gets_normalised_input_in_eval_mode_once_per_stroke_and_keeps_its_mode():
    model = WhereIsTheInk().train()
    state = DigitPadState(model, lang="en")
    state.set_ink(corner_stroke())
    assert model.training  # switched back
    [call] = model.calls  # both images in one batch
    assert call["x"].shape == (2, 1, 28, 28) and call["x"].dtype == torch.float32
    assert not call["training"] and call["inference"]
    assert call["x"].min().item() == pytest.approx(-MNIST_MEAN / MNIST_STD)
    torch.testing.assert_close(call["x"][1], to_mnist_style(corner_stroke())[0])


def test_an_empty_canvas_and_a_dot_give_messages_not_errors():
    model = WhereIsTheInk()
    state = DigitPadState(model, lang="en")
    assert state.message() == (TEXTS["en"]["hint"], False)  # nothing drawn yet
    assert "–" in state.render().bars
    state.set_ink(np.zeros((SIZE, SIZE), dtype=np.uint8))
    assert state.message() == ("The canvas is empty: draw a digit.", True) and model.calls == []
    state.set_ink(dot())
    assert state.problem == "dot" and state.mnist is None and state.guess() is None
    line, is_error = state.message()
    assert is_error and line.startswith("Too little ink to preprocess (a dot?)")
    assert "–" in state.render().bars
    state.set_preprocess(False)  # the plain resize of a dot (in the middle) is still something to show the model
    assert state.guess()[0] == 3 and state.message()[1] is False
    state.clear()
    assert state.plain is None and state.probabilities == {} and state.message()[0] == TEXTS["en"]["hint"]


def test_a_drawing_to_mnist_style_refuses_for_another_reason_shows_its_reason():
    state = DigitPadState(WhereIsTheInk(), lang="en")
    state.set_ink(np.full((SIZE, SIZE), 255, dtype=np.uint8))  # all white: a bright background
    assert state.problem == "bad"
    line, is_error = state.message()
    assert is_error and line.startswith("Could not read the drawing: the image&#x27;s border is mostly bright")
    state.refuse("a message the pad cannot read")
    assert state.message() == ("Could not read the drawing: a message the pad cannot read", True)


def test_a_wrong_shape_is_refused_by_the_state():
    state = DigitPadState(WhereIsTheInk(), lang="en")
    with pytest.raises(ValueError, match=r"found shape \(2, 28, 28\)"):
        state.set_ink(np.zeros((2, 28, 28)))
    with pytest.raises(TypeError, match="torch.nn.Module"):
        DigitPadState("my model")


# ---------------------------------------------------------------- languages


def test_both_languages_have_the_same_texts_and_placeholders():
    assert set(TEXTS) == {"en", "zh"}
    assert TEXTS["en"].keys() == TEXTS["zh"].keys()
    for key in TEXTS["en"]:
        assert re.findall(r"\{\w+\}", TEXTS["en"][key]) == re.findall(r"\{\w+\}", TEXTS["zh"][key]), key


def test_the_pad_speaks_chinese_when_asked_by_argument_setting_or_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("MNISTLAB_LANG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert DigitPadState(WhereIsTheInk()).lang == "en"
    state = DigitPadState(WhereIsTheInk(), lang="zh")
    assert state.message()[0].startswith("用鼠标或手指")
    state.set_ink(corner_stroke())
    assert state.message()[0] == "模型认为这是 <b>3</b>（45%）。 不做 MNIST 预处理，它会认为是 8（45%）。"
    assert "模型给出的概率" in state.render().bars and "模型的输入" in state.render().mnist_title
    state.set_ink(dot())
    assert state.message()[0].startswith("笔迹太少")
    monkeypatch.setenv("MNISTLAB_LANG", "zh")
    assert DigitPadState(WhereIsTheInk()).lang == "zh"
    monkeypatch.delenv("MNISTLAB_LANG")
    (tmp_path / "zh").mkdir()
    monkeypatch.chdir(tmp_path / "zh")  # a notebook of the Chinese edition
    assert DigitPadState(WhereIsTheInk()).lang == "zh"
    pad = DigitPad(WhereIsTheInk())
    assert pad.clear_button.description == "清除" and pad.preprocess_toggle.description == "MNIST 预处理"
    with pytest.raises(ValueError, match="lang='fr'"):
        DigitPadState(WhereIsTheInk(), lang="fr")


# ---------------------------------------------------------------- the widget


def test_a_stroke_from_the_browser_updates_the_previews_the_bars_and_the_message():
    pad = DigitPad(WhereIsTheInk(), lang="en")
    before = (pad.plain_image.value, pad.mnist_image.value, pad.bars.value)
    assert "data-kind='ok'" in pad.message.value and "Draw a digit" in pad.message.value
    pad.canvas._handle_custom_msg(*message_to_pad(corner_stroke()))  # as ipywidgets delivers the browser's message
    assert pad.plain_image.value != before[0] and pad.mnist_image.value != before[1]
    assert np.argmax(probabilities(pad.bars.value)) == 3
    assert "The model reads a <b>3</b>" in pad.message.value and "data-kind='ok'" in pad.message.value
    assert repr(pad) == "DigitPad(model=WhereIsTheInk, preprocess=True, guess=3)"
    mnist_preview = decode(pad.mnist_image.value)
    assert mnist_preview.shape == (28 * PREVIEW_SCALE, 28 * PREVIEW_SCALE, 3)

    pad.preprocess_toggle.value = False  # the checkbox
    assert np.argmax(probabilities(pad.bars.value)) == 8 and "The model reads a <b>8</b>" in pad.message.value
    assert "→" in pad.plain_title.value and "→" not in pad.mnist_title.value
    pad.preprocess_toggle.value = True
    assert np.argmax(probabilities(pad.bars.value)) == 3


def test_clear_empties_the_canvas_in_the_browser_and_the_previews():
    pad = DigitPad(WhereIsTheInk(), lang="en")
    empty = pad.plain_image.value
    sent = []
    pad.canvas.send = lambda content, buffers=None: sent.append(content)
    pad.handle_stroke(*message_to_pad(corner_stroke()))
    pad.clear_button.click()
    assert sent == [{"type": "clear"}]
    assert pad.plain_image.value == empty and "–" in pad.bars.value and "Draw a digit" in pad.message.value


@pytest.mark.parametrize(
    ("content", "buffers", "shown"),
    [
        ({"type": "ink", "height": SIZE, "width": SIZE}, [b"123"], "expected one buffer of 280x280 bytes"),
        ({"type": "ink", "height": SIZE, "width": SIZE}, [], "got buffers of [] bytes"),
        ({"type": "ink"}, [b""], "KeyError: &#x27;height&#x27;"),
        ({"type": "ink", "height": "tall", "width": 2}, [b"12"], "ValueError: invalid literal"),
    ],
    ids=["short buffer", "no buffer", "no size", "bad size"],
)
def test_a_message_the_pad_cannot_read_is_shown_not_raised(content, buffers, shown):
    pad = DigitPad(WhereIsTheInk(), lang="en")
    pad.canvas._handle_custom_msg(content, buffers)
    assert "data-kind='error'" in pad.message.value and shown in pad.message.value
    assert "Traceback" not in pad.message.value


def test_a_failing_model_is_shown_not_raised():
    pad = DigitPad(Broken(), lang="en")
    pad.handle_stroke(*message_to_pad(corner_stroke()))
    assert "data-kind='error'" in pad.message.value and "RuntimeError: this model is broken" in pad.message.value


def test_other_messages_from_the_browser_are_ignored():
    pad = DigitPad(WhereIsTheInk(), lang="en")
    shown = pad.message.value
    pad.canvas._handle_custom_msg({"type": "hello"}, [])
    pad.canvas._handle_custom_msg(["not", "a", "dict"], [])
    assert pad.message.value == shown and pad.state.plain is None


def test_the_pad_refuses_bad_arguments_when_made():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        DigitPad(None)
    with pytest.raises(ValueError, match="size must be an int from 56 to 1000"):
        DigitPad(WhereIsTheInk(), size=20)
    with pytest.raises(ValueError, match=r"brush must be from 1 to size / 4 = 70 pixels"):
        DigitPad(WhereIsTheInk(), brush=0)


def test_the_canvas_runs_its_own_javascript_fetching_nothing():
    canvas = DrawingCanvas(size=140, brush=11)
    state = canvas.get_state()
    assert state["size"] == 140 and state["brush"] == 11.0
    code = state["_esm"]
    assert "http" not in code and "import " not in code  # nothing from a CDN or anywhere else
    assert 'type: "ink"' in code and 'msg.type === "clear"' in code and "pointerup" in code
    assert "touch-action: none" in state["_css"]  # a finger draws instead of scrolling the page

"""DigitGridBrowser and its state, without a browser: controls, refusals, empty pages, predictions."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from mnistlab.widgets import AUGMENTATIONS, RED, DigitGridBrowser, DigitGridState, render_message


def tiny_dataset(labels: list[int], train: bool = False) -> SimpleNamespace:
    """An MNIST-like dataset: image i is an "L" (no symmetry) whose brightness encodes its index."""
    data = np.zeros((len(labels), 28, 28), dtype=np.uint8)
    for i in range(len(labels)):
        data[i, 4:24, 6:11] = 40 + i
        data[i, 19:24, 6:20] = 40 + i
    return SimpleNamespace(data=torch.from_numpy(data), targets=torch.tensor(labels), train=train)


class ConstantModel(nn.Module):
    """Predicts the same digit for every image; counts the images it was shown and checks how."""

    def __init__(self, digit: int) -> None:
        super().__init__()
        self.digit = digit
        self.scale = nn.Parameter(torch.ones(1))
        self.seen = 0
        self.calls_in_train_mode = 0
        self.calls_outside_inference = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1:] == (1, 28, 28) and x.dtype == torch.float32
        self.seen += len(x)
        self.calls_in_train_mode += int(self.training)
        self.calls_outside_inference += int(not torch.is_inference_mode_enabled())
        logits = torch.zeros(len(x), 10)
        logits[:, self.digit] = self.scale
        return logits


def decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_every_control_changes_the_image_and_the_caption(fresh_cache):
    browser = DigitGridBrowser()
    assert browser.state.split == "test" and browser.page_slider.max == 2000 // 64 + 1
    steps = [
        (browser.page_slider, 2, "page 2/32"),
        (browser.batch_control, 16, "images 65-80 of 2000"),  # the first digit of the page stays in view
        (browser.label_control, 3, "label 3"),
        (browser.augment_control, "RandomRotation(15)", "augmentation RandomRotation(15)"),
        (browser.split_control, "train", "train split"),
    ]
    for control, value, expected in steps:
        before_png, before_caption = browser.image.value, browser.caption.value
        control.value = value
        assert browser.image.value != before_png, f"image did not change after setting {value!r}"
        assert browser.caption.value != before_caption
        assert expected in browser.caption.value, browser.caption.value
    assert bytes(browser.image.value).startswith(b"\x89PNG")


def test_slider_range_follows_the_filter():
    browser = DigitGridBrowser(tiny_dataset([i % 10 for i in range(100)]), batch_size=16)
    assert browser.page_slider.max == 7  # 100 images, 16 per page
    browser.page_slider.value = 7
    browser.label_control.value = 4  # 10 images with label 4: one page, back to page 1
    assert (browser.page_slider.max, browser.page_slider.value) == (1, 1)
    assert "images 1-10 of 10" in browser.caption.value


@pytest.mark.parametrize(
    "setter, value, message",
    [
        ("set_page", 0, "page must be an int from 1 to 2"),
        ("set_page", 3, "page must be an int from 1 to 2"),
        ("set_page", 1.5, "got 1.5"),
        ("set_batch_size", 30, "batch_size must be one of (16, 32, 64), got 30"),
        ("set_label", 11, "label must be 'all' or a digit 0-9, got 11"),
        ("set_label", "3", "got '3'"),
        ("set_augmentation", "blur", "unknown augmentation 'blur'"),
        ("set_split", "validation", "split must be 'train' or 'test', got 'validation'"),
        ("set_split", "train", "cannot show the train split"),
    ],
)
def test_invalid_values_are_refused_clearly(setter, value, message):
    state = DigitGridState(tiny_dataset([i % 10 for i in range(100)]), batch_size=64)
    before = state.describe()
    with pytest.raises(ValueError) as info:
        getattr(state, setter)(value)
    assert message in str(info.value)
    assert state.describe() == before  # a refused value changes nothing


def test_bad_sources_are_refused():
    with pytest.raises(ValueError, match="source must be 'sample', 'full' or an MNIST dataset"):
        DigitGridState("mnist")
    with pytest.raises(TypeError, match="dataset with .data and .targets"):
        DigitGridState([1, 2, 3])
    with pytest.raises(ValueError, match="batch_size must be one of"):
        DigitGridState(tiny_dataset([1, 2]), batch_size=10)
    bad = SimpleNamespace(data=torch.zeros(3, 28, 28), targets=torch.zeros(3), train=False)
    with pytest.raises(ValueError, match="must be uint8"):
        DigitGridState(bad)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"seed": "a"}, ValueError, "seed must be an int from 0 to 4294967295, got 'a'"),
        ({"seed": 10**30}, ValueError, "seed must be an int from 0 to 4294967295"),
        ({"seed": -1}, ValueError, "seed must be an int from 0 to 4294967295"),
        ({"model": "cnn"}, TypeError, "model must be a trained torch.nn.Module (e.g. the CNN of notebook 08) or None, "
                                      "got str: 'cnn'"),
    ],
)
def test_bad_arguments_are_refused_at_the_door(kwargs, error, message):
    with pytest.raises(error) as info:
        DigitGridBrowser(tiny_dataset([i % 10 for i in range(20)]), **kwargs)
    assert message in str(info.value)
    with pytest.raises(error):
        DigitGridState(tiny_dataset([1, 2]), **kwargs)


def test_the_largest_seed_still_augments():
    browser = DigitGridBrowser(tiny_dataset([i % 10 for i in range(20)]), seed=2**32 - 1)
    browser.augment_control.value = "RandomRotation(15)"
    assert browser.state.augmentation == "RandomRotation(15)" and browser.image.value


def test_empty_label_filter_shows_a_no_images_state():
    browser = DigitGridBrowser(tiny_dataset([0, 1, 2, 1, 0]), model=ConstantModel(1))
    browser.label_control.value = 7
    assert browser.caption.value.startswith("no images:")
    assert "label 7" in browser.caption.value
    assert browser.page_slider.max == 1
    assert decode(browser.image.value).shape[0] == 40  # the message picture, not a grid
    browser.label_control.value = 1  # and back to a real page
    assert "images 1-2 of 2" in browser.caption.value


def test_predictions_are_computed_once_per_split_in_eval_and_inference_mode(fresh_cache):
    model = ConstantModel(1)
    model.train()
    state = DigitGridState("sample", split="test", model=model, predict_batch=1000)
    for page in (1, 2, 3):
        state.set_page(page)
        state.render()
    state.set_label(5)
    state.render()
    assert model.seen == 2000  # the test split, once
    state.set_split("train")
    state.render()
    state.set_split("test")
    state.render()
    assert model.seen == 2000 + 6000
    assert model.calls_in_train_mode == 0 and model.calls_outside_inference == 0
    assert model.training, "the model's own mode must be restored"


def test_wrong_predictions_are_counted_and_framed_in_red():
    labels = [i % 10 for i in range(20)]  # page 1 of 16: digits 0-9 then 0-5, two of them are 3
    browser = DigitGridBrowser(tiny_dataset(labels), model=ConstantModel(3), batch_size=16)
    assert "accuracy 2/16 = 12.5%, 14 wrong (red)" in browser.caption.value
    picture = decode(browser.image.value)
    cell_w = picture.shape[1] // 8
    cell_h = picture.shape[0] // 2
    frames = [tuple(picture[(i // 8) * cell_h + 1, (i % 8) * cell_w + 1]) for i in range(16)]
    wrong = [frame == RED for frame in frames]
    assert wrong == [label != 3 for label in labels[:16]]
    browser.page_slider.value = 2  # 4 digits left (6-9), none is a 3
    assert "images 17-20 of 20 | accuracy 0/4 = 0.0%, 4 wrong (red)" in browser.caption.value


def test_augmentation_is_seeded_and_leaves_the_global_random_state_alone():
    state = DigitGridState(tiny_dataset([i % 10 for i in range(40)]))
    plain = state.page_images()
    for name in AUGMENTATIONS:
        state.set_augmentation(name)
        torch.manual_seed(123)
        first = state.page_images()
        after_first = torch.rand(1)
        torch.manual_seed(123)
        second = state.page_images()
        assert torch.equal(after_first, torch.rand(1)), f"{name} used the global random state"
        assert np.array_equal(first, second), f"{name} draws differently each time"
        assert first.shape == plain.shape and first.dtype == np.uint8
        if name != "none":
            assert not np.array_equal(first, plain), f"{name} changed no image"


def test_a_digit_looks_the_same_whatever_the_page_size():
    state = DigitGridState(tiny_dataset([i % 10 for i in range(40)]), batch_size=16)
    state.set_augmentation("RandomAffine(10, translate=0.1)")
    state.set_page(2)
    second_page = state.page_images()  # digits 16-31
    state.set_batch_size(32)
    state.set_page(1)
    assert np.array_equal(state.page_images()[16:32], second_page)


def test_repr_is_short_and_deterministic():
    browser = DigitGridBrowser(tiny_dataset([1, 2, 3], train=True))
    assert browser.state.split == "train" and browser.split_control.disabled
    text = repr(browser)
    assert text == (
        "DigitGridBrowser(split='train', page=1/1, batch_size=64, label='all', augmentation='none', model=None)"
    )
    assert browser._repr_mimebundle_()["text/plain"] == text


def test_given_predictions_are_used_instead_of_predicting_again():
    labels = [i % 10 for i in range(20)]
    model = ConstantModel(3)
    known = torch.tensor(labels)  # e.g. what evaluate(..., return_predictions=True) returned: all right
    known[0] = 7  # one mistake, which the constant model would not make
    browser = DigitGridBrowser(tiny_dataset(labels), model=model, batch_size=16, predictions={"test": known})
    assert model.seen == 0
    assert "accuracy 15/16 = 93.8%, 1 wrong (red)" in browser.caption.value
    browser.augment_control.value = [a for a in AUGMENTATIONS if a != "none"][0]
    assert model.seen == 16  # augmented digits are new images: the model predicts them


def test_given_predictions_are_checked():
    data = tiny_dataset([1, 2, 3])
    with pytest.raises(ValueError, match="needs model="):
        DigitGridState(data, predictions={"test": [1, 2, 3]})
    state = DigitGridState(data, model=ConstantModel(1), predictions={"test": [1, 2]})
    with pytest.raises(ValueError, match="2 entries for 3 images"):
        state.render()


def test_the_browser_speaks_chinese_when_asked(monkeypatch, tmp_path):
    browser = DigitGridBrowser(lang="zh")
    assert browser.split_control.description == "数据集" and browser.page_slider.description == "页"
    assert dict(browser.split_control.options)["测试集"] == "test"  # labels in Chinese, values unchanged
    assert browser.caption.value.startswith("测试集，标签 全部 | 第 1/") and "共 2000 张" in browser.caption.value
    browser.label_control.value = 3
    assert "标签 3" in browser.caption.value
    english = DigitGridBrowser(lang="en")
    assert english.split_control.description == "split" and english.caption.value.startswith("test split, label all")


def test_the_language_comes_from_the_argument_the_variable_or_the_folder(monkeypatch, tmp_path):
    from mnistlab.widgets import language

    monkeypatch.delenv("MNISTLAB_LANG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert language() == "en"
    (tmp_path / "zh").mkdir()
    monkeypatch.chdir(tmp_path / "zh")  # a kernel of a notebook in notebooks/zh/ starts here
    assert language() == "zh" and language("en") == "en"
    monkeypatch.setenv("MNISTLAB_LANG", "en")
    assert language() == "en"
    monkeypatch.setenv("MNISTLAB_LANG", "fr")
    with pytest.raises(ValueError, match="MNISTLAB_LANG='fr'"):
        language()
    with pytest.raises(ValueError, match="lang='de'"):
        DigitGridBrowser(lang="de")


def test_an_empty_page_in_chinese_draws_no_text_the_font_may_lack():
    state = DigitGridState("sample", lang="zh")
    state.set_label(3)
    state._data["test"] = (state.arrays()[0][:5], np.zeros(5, dtype=state.arrays()[1].dtype))  # no 3 at all
    png, caption = state.render()
    assert caption.startswith("没有图像") and png == render_message("")

"""SeedCNN matches the seed's architecture; CompactCNN works; wrong shapes give clear errors."""

from __future__ import annotations

import pytest
import torch

from mnistlab.models import MODEL_NAMES, CompactCNN, SeedCNN, build_model, count_parameters


def seed_model() -> torch.nn.Module:
    """The seed's Model, written as in the blog post (with view(-1, ...))."""

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Sequential(
                torch.nn.Conv2d(1, 64, kernel_size=3, stride=1, padding=1), torch.nn.ReLU(),
                torch.nn.Conv2d(64, 128, kernel_size=3, stride=1, padding=1), torch.nn.ReLU(),
                torch.nn.MaxPool2d(stride=2, kernel_size=2))
            self.dense = torch.nn.Sequential(
                torch.nn.Linear(14 * 14 * 128, 1024), torch.nn.ReLU(), torch.nn.Dropout(p=0.5),
                torch.nn.Linear(1024, 10))

        def forward(self, x):
            return self.dense(self.conv1(x).view(-1, 14 * 14 * 128))

    return Model()


def test_seed_cnn_parameter_count_and_output_shape():
    model = SeedCNN()
    assert count_parameters(model) == 25_775_882
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_seed_cnn_loads_the_seed_models_weights_and_computes_the_same():
    torch.manual_seed(0)
    seed = seed_model().eval()
    ours = SeedCNN().eval()
    ours.load_state_dict(seed.state_dict())  # same keys and shapes, or this raises
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(ours(x), seed(x))


def test_compact_cnn_is_small_and_gives_logits_per_image():
    model = CompactCNN()
    assert 50_000 < count_parameters(model) < 200_000
    out = model(torch.randn(5, 1, 28, 28))
    assert out.shape == (5, 10) and out.dtype == torch.float32


@pytest.mark.parametrize("cls", [SeedCNN, CompactCNN])
@pytest.mark.parametrize("shape", [(28, 28), (4, 28, 28), (4, 3, 28, 28), (4, 1, 32, 32), (4, 784)])
def test_wrong_input_shape_names_expected_and_found(cls, shape):
    with pytest.raises(ValueError) as info:
        cls()(torch.zeros(shape))
    assert "(N, 1, 28, 28)" in str(info.value)
    assert str(tuple(shape)) in str(info.value)


def test_seed_view_silently_mixes_samples_where_flatten_refuses():
    # 2 images of 56x28 (twice the height): view(-1, 25088) turns them into 4 "samples", no error.
    x = torch.randn(2, 1, 56, 28)
    seed = seed_model()
    assert seed(x).shape == (4, 10)
    with pytest.raises(ValueError):
        SeedCNN()(x)


def test_build_model_by_name():
    assert isinstance(build_model("seed"), SeedCNN)
    assert isinstance(build_model("compact"), CompactCNN)
    assert set(MODEL_NAMES) == {"seed", "compact"}
    with pytest.raises(ValueError, match="seed, compact"):
        build_model("resnet")


@pytest.mark.parametrize("cls", [SeedCNN, CompactCNN])
def test_uint8_images_get_a_hint_to_normalise(cls):
    with pytest.raises(TypeError) as info:
        cls()(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    assert "torch.uint8" in str(info.value) and "mnistlab.data.normalize" in str(info.value)

"""fit and evaluate on tiny data: loss goes down, accuracy and loss are exact on a hand-made model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mnistlab.baselines import majority_class_accuracy
from mnistlab.data import mnist_tensors
from mnistlab.history import History
from mnistlab.models import CompactCNN
from mnistlab.train import evaluate, fit, make_adam, progress_enabled


class NearestValue(nn.Module):
    """Predicts class k for an image whose pixels all equal k: logits[c] = -(mean - c)^2."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.flatten(1).mean(dim=1, keepdim=True)
        return -((mean - torch.arange(10.0)) ** 2)


def constant_images(values: list[int]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 1, 28, 28).contiguous()


@pytest.fixture(scope="module")
def tiny():
    x, y = mnist_tensors(train=True, source="sample")
    return x[:256].clone(), y[:256].clone()


def test_evaluate_counts_and_loss_exactly_on_a_hand_made_model():
    x = constant_images([0, 1, 2, 3, 4])
    y = torch.tensor([0, 1, 9, 3, 7])  # right, right, wrong, right, wrong
    model = NearestValue()
    result = evaluate(model, (x, y), batch_size=2, return_predictions=True)
    assert result["correct"] == 3 and result["total"] == 5
    assert result["accuracy"] == pytest.approx(0.6)
    assert result["predictions"].tolist() == [0, 1, 2, 3, 4]
    expected_loss = nn.functional.cross_entropy(model(x), y).item()  # mean over all 5 samples
    assert result["loss"] == pytest.approx(expected_loss, rel=1e-6)


def test_evaluate_switches_dropout_off():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(784, 10)).train()
    x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
    assert evaluate(model, (x, y)) == evaluate(model.train(), (x, y))
    assert not model.training


def test_fit_lowers_the_loss_and_records_each_epoch(tiny):
    torch.manual_seed(0)
    model = CompactCNN()
    val = (tiny[0][:128], tiny[1][:128])
    history = fit(model, tiny, epochs=3, lr=3e-3, batch_size=32, val_data=val, progress=False)
    assert isinstance(history, History) and len(history) == 3
    assert set(history.metrics) == {"train_loss", "train_acc", "val_loss", "val_acc"}
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["val_acc"][-1] > 0.3  # chance is 0.1


def test_fit_accepts_a_dataloader(tiny):
    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*tiny), batch_size=64, shuffle=True)
    model = CompactCNN()
    untrained = evaluate(model, tiny)["accuracy"]
    history = fit(model, loader, epochs=2, lr=3e-3, val_data=loader, progress=False)
    assert len(history["train_loss"]) == 2
    # it learned from the loader's batches: well above the untrained model and always answering the commonest digit
    always_the_same = majority_class_accuracy(tiny[1], tiny[1]).accuracy
    assert history.last("val_acc") > max(untrained, always_the_same) + 0.3, (history.metrics, untrained)  # 0.78
    assert history.last("val_acc") == evaluate(model, tiny)["accuracy"]  # val_data was read whole, once


def test_fit_is_repeatable_with_the_same_seed(tiny):
    weights = []
    for _ in range(2):
        torch.manual_seed(1)
        model = CompactCNN()
        fit(model, tiny, epochs=1, batch_size=64, seed=5, progress=False)
        weights.append(model.classifier[3].weight.detach().clone())
    assert torch.equal(weights[0], weights[1])


def test_quiet_when_progress_is_off(tiny, capsys, monkeypatch):
    fit(CompactCNN(), tiny, epochs=1, progress=False)
    monkeypatch.setenv("MNISTLAB_PROGRESS", "0")
    assert not progress_enabled(True)
    fit(CompactCNN(), tiny, epochs=1, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_make_adam_is_fused_where_supported():
    optimizer = make_adam(CompactCNN(), lr=0.01)
    assert optimizer.defaults["lr"] == 0.01
    major, minor = (int(p) for p in torch.__version__.split(".")[:2])
    if (major, minor) >= (2, 4):  # CPU fused Adam arrived in torch 2.4
        assert optimizer.defaults["fused"] is True


def test_bad_arguments_are_refused(tiny):
    with pytest.raises(ValueError, match="epochs"):
        fit(CompactCNN(), tiny, epochs=-1, progress=False)
    with pytest.raises(TypeError, match="DataLoader"):
        fit(CompactCNN(), 42, epochs=1, progress=False)
    with pytest.raises(ValueError, match="empty"):
        evaluate(CompactCNN(), (tiny[0][:0], tiny[1][:0]))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"batch_size": 0}, ValueError, "batch_size must be a positive int, got 0"),
        ({"batch_size": 2.5}, ValueError, "batch_size must be a positive int, got 2.5"),
        ({"batch_size": True}, ValueError, "batch_size must be a positive int"),
        ({"lr": 0}, ValueError, "lr must be a positive number, got 0"),
        ({"lr": float("nan")}, ValueError, "lr must be a positive number"),
        ({"lr": "0.1"}, ValueError, "lr must be a positive number"),
        ({"seed": -1}, ValueError, "seed must be an int from 0 to"),
        ({"seed": 2**64}, ValueError, "seed must be an int from 0 to"),
        ({"epochs": True}, ValueError, "epochs must be an int"),
    ],
)
def test_bad_settings_are_refused_before_training(tiny, kwargs, error, message):
    model = CompactCNN()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        fit(model, tiny, **{"epochs": 1, "progress": False, **kwargs})
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # nothing trained


@pytest.mark.parametrize(
    "data, message",
    [
        (lambda t: (t[0],), "got a tuple of 1 item (Tensor)"),
        (lambda t: (t[0], t[1], t[1]), "got a tuple of 3 items (Tensor, Tensor, Tensor)"),
        (lambda t: [t[0].numpy(), t[1].numpy()], "got a list of 2 items (ndarray, ndarray)"),
        (lambda t: t[0], "got Tensor"),
        (lambda t: (t[0], t[1][:10]), "x and y differ in length: 256 images, 10 labels"),
    ],
)
def test_data_that_is_not_an_x_y_pair_is_named(tiny, data, message):
    with pytest.raises((TypeError, ValueError)) as info:
        fit(CompactCNN(), data(tiny), epochs=1, progress=False)
    assert message in str(info.value) and "train_data" in str(info.value)
    with pytest.raises((TypeError, ValueError)) as info:
        evaluate(CompactCNN(), data(tiny))
    assert message in str(info.value)


def test_a_model_that_is_not_a_module_is_named(tiny):
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got str: 'cnn'"):
        fit("cnn", tiny, epochs=1, progress=False)


def test_resume_refuses_other_settings_and_changes_nothing(tiny, tmp_path):
    path = tmp_path / "c.pt"
    fit(CompactCNN(), tiny, epochs=1, lr=3e-3, batch_size=64, seed=1, checkpoint=path, progress=False)
    for name, value in [("lr", 0.5), ("seed", 2), ("batch_size", 32), ("fast", True)]:
        settings = {"lr": 3e-3, "batch_size": 64, "seed": 1, name: value}
        model = CompactCNN()
        before = {k: v.clone() for k, v in model.state_dict().items()}
        with pytest.raises(ValueError, match=rf"trained with {name}=.*not {name}={value!r}.*pass {name}="):
            fit(model, tiny, epochs=2, resume=path, progress=False, **settings)
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    history = fit(CompactCNN(), tiny, epochs=2, lr=3e-3, batch_size=64, seed=1, resume=path, progress=False)
    assert len(history) == 2


def test_an_unwritable_checkpoint_is_refused_before_training(tiny, tmp_path):
    (tmp_path / "file").write_text("x")
    model = CompactCNN()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(Exception, match="cannot save a checkpoint") as info:
        fit(model, tiny, epochs=1, checkpoint=tmp_path / "file" / "c.pt", progress=False)
    assert type(info.value).__name__ == "CheckpointError"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())

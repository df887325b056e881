"""Gradient checkpointing (``train.gradient_checkpointing``): the same losses, on encoders and decoders."""

from __future__ import annotations

import warnings

import pytest

from tests.conftest import save_tiny_decoder
from tui_lab.core.errors import ConfigError
from tui_lab.core.models.decoders import prepare_for_training


def _steps(model, batch, labels, n: int = 3) -> list[float]:
    """Losses of ``n`` AdamW steps on one batch, dropout on."""
    import torch

    torch.manual_seed(1)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(n):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


def test_a_checkpointed_run_has_the_losses_of_a_plain_one(tiny_config) -> None:
    """The preset (a BERT, dropout on): the recomputed forward draws the same dropout masks."""
    import copy

    import torch

    from tui_lab.core.data.batching import pad_batch
    from tui_lab.core.training.distributed import DistInfo
    from tui_lab.core.training.prepare import prepare

    tiny_config.train.gradient_checkpointing = True
    setup = prepare(tiny_config, DistInfo())
    assert setup.model.is_activation_checkpointing
    assert "gradient checkpointing: on" in " ".join(setup.notes)
    plain = copy.deepcopy(setup.model)
    plain.activation_checkpointing_disable()
    assert plain.config.hidden_dropout_prob > 0 and not plain.is_activation_checkpointing
    tokens = setup.train.tokens
    batch = pad_batch(tokens.rows(range(16)), setup.pad_id)
    labels = torch.as_tensor(setup.train.targets[:16])
    expected = _steps(plain, batch, labels)
    assert _steps(setup.model, batch, labels) == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_a_decoder_is_checkpointed_without_its_cache_and_with_the_same_gradients(tmp_path) -> None:
    import torch

    from tui_lab.core.models.loading import load_pretrained

    folder = save_tiny_decoder(tmp_path / "llama", "llama")
    grads = []
    for on in (False, True):
        torch.manual_seed(0)
        tokenizer, model = load_pretrained(str(folder), ["neg", "pos"], 32)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no deprecation warning on the user's stderr
            prepare_for_training(model, on)
        assert model.config.use_cache is False and model.is_activation_checkpointing is on
        model.train()
        batch = tokenizer(
            ["the film was great", "the room was awful and bland"], padding=True, return_tensors="pt"
        )
        model(**batch, labels=torch.tensor([1, 0])).loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-6)


def test_a_model_without_checkpointing_is_one_line() -> None:
    import torch

    class Plain(torch.nn.Module):
        config = type("Config", (), {"use_cache": True})()
        supports_gradient_checkpointing = False

    model = Plain()
    assert prepare_for_training(model, False) == [] and model.config.use_cache is False
    with pytest.raises(ConfigError, match="does not support gradient checkpointing") as err:
        prepare_for_training(model, True)
    assert "\n" not in str(err.value)

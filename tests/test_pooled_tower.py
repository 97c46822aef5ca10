"""The exported image tower's class-token last layer (encoders/pooled_tower.py): the model's own
features where it fits, the whole tower wherever it does not."""

from __future__ import annotations

import torch
from transformers import AutoModel

from momentfinder.encoders.pooled_tower import ClassTokenLayer, image_tower_module


def features(net, pixels):
    out = net.get_image_features(pixel_values=pixels)
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def test_clip_last_layer_runs_for_the_class_token_with_the_same_features(tiny_clip):
    net = AutoModel.from_pretrained(tiny_clip).eval()
    pixels = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = features(net, pixels)
        tower = image_tower_module(net, (32, 32))
        got = tower(pixels)
    assert isinstance(net.vision_model.encoder.layers[-1], ClassTokenLayer)
    assert not any(isinstance(layer, ClassTokenLayer) for layer in net.vision_model.encoder.layers[:-1])
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    # the layer itself: one token out, equal to the whole layer's class token
    layer = net.vision_model.encoder.layers[-1]
    hidden = torch.randn(2, 5, net.config.vision_config.hidden_size)
    with torch.no_grad():
        whole = layer.layer(hidden, None)
        whole = whole[0] if isinstance(whole, tuple) else whole
        torch.testing.assert_close(layer(hidden), whole[:, :1], rtol=1e-5, atol=1e-6)


def test_siglip_pools_over_every_token_and_is_exported_whole(tiny_siglip):
    net = AutoModel.from_pretrained(tiny_siglip).eval()
    before = list(net.vision_model.encoder.layers)
    image_tower_module(net, (32, 32))
    assert list(net.vision_model.encoder.layers) == before


def test_a_class_token_layer_that_does_not_fit_leaves_the_whole_tower(tiny_clip, monkeypatch, caplog):
    net = AutoModel.from_pretrained(tiny_clip).eval()
    last = net.vision_model.encoder.layers[-1]
    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = features(net, pixels)
    # a transformers version whose layer differs: wrong values, then an error
    monkeypatch.setattr(ClassTokenLayer, "forward", lambda self, h, *a, **k: 2 * h[:, :1])
    with caplog.at_level("INFO"):
        tower = image_tower_module(net, (32, 32))
    assert net.vision_model.encoder.layers[-1] is last and "whole image tower" in caplog.text
    with torch.no_grad():
        torch.testing.assert_close(tower(pixels), expected)

    def broken(self, h, *a, **k):
        raise TypeError("unexpected keyword argument")

    monkeypatch.setattr(ClassTokenLayer, "forward", broken)
    image_tower_module(net, (32, 32))
    assert net.vision_model.encoder.layers[-1] is last

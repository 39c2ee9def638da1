"""Tests for ddfa.nets (MobileNetV1 regressor, registry, profiling) and ddfa.export.onnx."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason='needs torch: pip install ".[train]"')
from torch import nn  # noqa: E402

from ddfa.export.onnx import ExportError, export_onnx, verify_onnx
from ddfa.nets import (
    LRROutput,
    MobileNetV1,
    NetError,
    count_macs,
    count_parameters,
    create_model,
    list_models,
    register_model,
)

# 3DDFA_V2 paper (Guo et al., ECCV 2020), Table: MobileNet params and MACs at 120x120 input.
PAPER = {1.0: {"params": 3.27e6, "macs": 183.5e6}, 0.5: {"params": 0.85e6, "macs": 49.5e6}}

needs_ort = pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime not installed"
)
needs_onnx = pytest.mark.skipif(importlib.util.find_spec("onnx") is None, reason="onnx not installed")


def pixels(batch: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 3, 120, 120, generator=torch.Generator().manual_seed(seed)) * 255


def randomise_bn_and_head(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give BN non-trivial statistics (so BN folding in export is exercised) and O(1) outputs."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) - 0.5)
            elif isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / m.in_features**0.5)
    return model


@pytest.mark.parametrize("width", [1.0, 0.5])
def test_parameter_count_matches_paper(width):
    n = count_parameters(create_model("mobilenet_v1", width=width))
    assert abs(n - PAPER[width]["params"]) / PAPER[width]["params"] < 0.01


@pytest.mark.parametrize("width", [1.0, 0.5])
def test_macs_match_paper_under_thop_convention(width):
    model = create_model("mobilenet_v1", width=width)
    paper = PAPER[width]["macs"]
    assert abs(count_macs(model, thop_compatible=True) - paper) / paper < 0.01
    # pure conv + linear MACs are a few percent lower than the paper's (BN/pool ops excluded)
    assert 0.9 * paper < count_macs(model) < paper


def test_count_macs_closed_form():
    model = nn.Sequential(nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=2), nn.Flatten(), nn.Linear(8 * 25, 7))
    expected = 8 * 5 * 5 * (4 // 2) * 9 + 8 * 25 * 7
    assert count_macs(model, (1, 4, 10, 10)) == expected
    assert count_macs(model, (3, 4, 10, 10)) == 3 * expected


def test_lrr_head_excluded_from_macs_but_counted_in_params():
    plain = create_model("mobilenet_v1", width=0.5)
    lrr = create_model("mobilenet_v1", width=0.5, lrr=True)
    assert count_macs(lrr) == count_macs(plain)
    assert count_parameters(lrr) - count_parameters(plain) == plain.num_features * 136 + 136


@pytest.mark.parametrize("width", [1.0, 0.5])
def test_output_shapes(width):
    model = create_model("mobilenet_v1", width=width, lrr=True).eval()
    with torch.no_grad():
        params = model(pixels(2))
        out = model.forward_with_lrr(pixels(2))
    assert params.shape == (2, 62) and params.dtype == torch.float32
    assert isinstance(out, LRROutput)
    assert out.params.shape == (2, 62) and out.landmarks.shape == (2, 136)
    torch.testing.assert_close(out.params, params)


def test_lrr_head_only_when_asked():
    plain = create_model("mobilenet_v1")
    assert plain.lrr_head is None and not plain.has_lrr
    assert not any(k.startswith("lrr_head") for k in plain.state_dict())
    with pytest.raises(NetError, match="lrr=True"):
        plain.forward_with_lrr(pixels(1))
    lrr = create_model("mobilenet_v1", lrr=True)
    assert lrr.has_lrr and lrr.lrr_head.out_features == 136


def test_lrr_training_step_updates_both_heads():
    model = create_model("mobilenet_v1", width=0.5, lrr=True).train()
    out = model.forward_with_lrr(pixels(4))
    (out.params.square().mean() + out.landmarks.square().mean()).backward()
    assert model.head.weight.grad.abs().sum() > 0
    assert model.lrr_head.weight.grad.abs().sum() > 0


def test_normalisation_is_fixed_and_not_saved():
    model = create_model("mobilenet_v1", width=0.5).eval()
    names = set(model.state_dict())
    assert not any("mean" in k and "running" not in k for k in names)
    # a mid-grey image (127.5) is exactly zero after normalisation: the stem conv sees zeros
    grey = torch.full((1, 3, 120, 120), 127.5)
    seen = []
    model.features[1].register_forward_pre_hook(lambda m, args: seen.append(args[0]) and None)
    model(grey)
    assert torch.count_nonzero(seen[0]) == 0


def test_determinism_under_seed():
    torch.manual_seed(123)
    a = create_model("mobilenet_v1", width=0.5, lrr=True)
    torch.manual_seed(123)
    b = create_model("mobilenet_v1", width=0.5, lrr=True)
    torch.manual_seed(124)
    c = create_model("mobilenet_v1", width=0.5, lrr=True)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    assert not torch.equal(a.head.weight, c.head.weight)
    a.eval()
    with torch.no_grad():
        assert torch.equal(a(pixels(3)), a(pixels(3)))


def test_batch_independence_in_eval():
    model = randomise_bn_and_head(create_model("mobilenet_v1", width=0.5)).eval()
    x = pixels(4)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[2:3], model(x[2:3]), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "bad",
    [torch.zeros(3, 120, 120), torch.zeros(1, 1, 120, 120), torch.zeros(1, 3, 120, 120, dtype=torch.uint8)],
)
def test_bad_input_raises(bad):
    with pytest.raises(NetError):
        create_model("mobilenet_v1", width=0.5)(bad)


def test_registry():
    assert "mobilenet_v1" in list_models()
    with pytest.raises(ValueError, match="available: .*mobilenet_v1"):
        create_model("resnet_9000")
    with pytest.raises(NetError, match="already registered"):
        register_model("mobilenet_v1")(MobileNetV1)
    with pytest.raises(NetError, match="width"):
        create_model("mobilenet_v1", width=0)
    with pytest.raises(NetError, match="num_outputs"):
        create_model("mobilenet_v1", num_outputs=0)
    assert create_model("mobilenet_v1", width=0.25, num_outputs=10)(pixels(1)).shape == (1, 10)


@needs_onnx
@needs_ort
@pytest.mark.parametrize("width", [1.0, 0.5])
def test_onnx_round_trip(tmp_path, width):
    import onnx
    import onnxruntime as ort

    torch.manual_seed(0)
    model = randomise_bn_and_head(create_model("mobilenet_v1", width=width, lrr=True)).train()
    path = export_onnx(model, tmp_path / "net.onnx")
    assert model.training  # mode restored
    assert [p.name for p in tmp_path.iterdir()] == ["net.onnx"]  # no temp file left behind

    graph = onnx.load(path).graph
    assert [i.name for i in graph.input] == ["image"] and [o.name for o in graph.output] == ["params"]
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param  # dynamic batch
    assert not any(136 in init.dims for init in graph.initializer)  # LRR head dropped
    n_exported = sum(int(np.prod(init.dims)) for init in graph.initializer)
    plain = count_parameters(model) - count_parameters(model.lrr_head)
    assert n_exported < plain  # BN folded into convs; LRR absent

    model.eval()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        x = pixels(batch, seed=batch)
        with torch.no_grad():
            expected = model(x).numpy()
        assert np.abs(expected).max() > 0.1  # non-trivial outputs, so atol is meaningful
        (got,) = session.run(["params"], {"image": x.numpy()})
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    assert verify_onnx(model, path) <= 1e-4


@needs_onnx
@needs_ort
def test_verify_onnx_detects_mismatch(tmp_path):
    model = randomise_bn_and_head(create_model("mobilenet_v1", width=0.5))
    path = export_onnx(model, tmp_path / "net.onnx")
    with torch.no_grad():
        model.head.bias.add_(1.0)
    with pytest.raises(ExportError, match="differ"):
        verify_onnx(model, path)


@needs_onnx
def test_export_errors_keep_existing_file(tmp_path):
    target = tmp_path / "net.onnx"
    target.write_bytes(b"old")
    with pytest.raises(ExportError, match=r"\(B, N\)"):
        export_onnx(nn.Sequential(nn.Conv2d(3, 2, 3)), target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["net.onnx"]
    with pytest.raises(ExportError, match="opset"):
        export_onnx(create_model("mobilenet_v1", width=0.5), target, opset=30)
    with pytest.raises(ExportError, match="directory"):
        export_onnx(create_model("mobilenet_v1", width=0.5), tmp_path / "missing" / "net.onnx")

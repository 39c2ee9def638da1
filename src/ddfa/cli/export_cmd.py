"""``ddfa export onnx``: export a regressor checkpoint to ONNX with the normaliser baked in."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLES = """\
examples:
  ddfa export onnx --weights efficientnet_lite0.pt -o efficientnet_lite0.onnx
  ddfa export onnx --weights run/best.pt -o best.onnx --opset 13
  ddfa export onnx --weights mobilenet_v1_0.5.pt -o mobilenet_v1_0.5.int8.onnx --int8 ../cache

The graph takes "image" float32 (B, 3, 120, 120) RGB 0..255 and returns "params"
float32 (B, 62), de-normalised (out * std + mean), batch size B dynamic; use it with
FaceAligner(weights="best.onnx") or --weights best.onnx."""


def register(sub) -> None:
    p = sub.add_parser("export", help="export model weights to other formats",
                       description="Export model weights to other formats.")
    esub = p.add_subparsers(dest="export_command", metavar="FORMAT", required=True)
    o = esub.add_parser("onnx", help="ONNX graph for onnxruntime (the default inference backend)",
                        description="Export a .pt regressor checkpoint to ONNX, verified against torch.",
                        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES)
    o.add_argument("--weights", type=Path, required=True, help="the .pt checkpoint (ddfa.nets.checkpoint format)")
    o.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file to write")
    o.add_argument("--opset", type=int, default=17, help="ONNX opset (default: %(default)s)")
    o.add_argument("--no-verify", action="store_true", help="skip the onnxruntime-vs-torch check")
    o.add_argument("--int8", type=Path, default=None, metavar="CACHE",
                   help="write the int8 (post-training quantised) graph instead, calibrated on 512 training "
                        "crops of this cache (ddfa data build); how the bundled .int8.onnx files are made")
    o.set_defaults(run=run)
    w = esub.add_parser("weights", help="inference-only .pt from a training checkpoint",
                        description="Strip a training checkpoint (optimiser state, LRR head) for shipping.",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog="examples:\n  ddfa export weights --checkpoint runs/lite0_cpu_stage4/best.pt --precise-bn 4096 "
                        "-o src/ddfa/assets/efficientnet_lite0.pt\n"
                        "  ddfa export weights --checkpoint runs/mb05_stage19/best.pt "
                        "-o best_plain.pt\n"
                        "  ddfa export weights --checkpoint runs/lite0_cpu_stage4/last.pt --keep-lrr "
                        "-o checkpoints/lite0_warm_start.pt")
    w.add_argument("--checkpoint", type=Path, required=True, help="a checkpoint written by ddfa train")
    w.add_argument("-o", "--output", type=Path, required=True, help="the .pt file to write")
    w.add_argument("--keep-lrr", action="store_true",
                   help="keep the trained LRR head: a small warm-start file for ddfa train's init_from")
    w.add_argument("--precise-bn", type=int, default=0, metavar="N",
                   help="re-estimate the BatchNorm statistics on N training crops, augmented as the "
                   "checkpoint's training config says (default: 0, keep them)")
    w.add_argument("--cache", type=Path, help="the cache to draw those crops from (default: the config's)")
    w.set_defaults(run=run_weights)


def run_weights(args) -> int:
    from ddfa.nets.checkpoint import release_checkpoint

    path = release_checkpoint(args.checkpoint, args.output, keep_lrr=args.keep_lrr, precise_bn=args.precise_bn,
                              bn_cache=args.cache, source_checkpoint=str(args.checkpoint))
    print(f"ddfa: wrote {path} ({path.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    return 0


def run(args) -> int:
    from ddfa.errors import InputError
    from ddfa.pipeline.regressor import export_regressor_onnx

    if args.output.suffix.lower() != ".onnx":
        raise InputError(f"the output file must end in .onnx, got '{args.output}'")
    if args.int8 is None:
        path = export_regressor_onnx(args.weights, args.output, opset=args.opset, verify=not args.no_verify)
    else:
        import tempfile

        from ddfa.export.quantize import quantize_regressor_onnx

        with tempfile.TemporaryDirectory() as tmp:
            fp32 = export_regressor_onnx(args.weights, Path(tmp) / "float32.onnx", opset=args.opset,
                                         verify=not args.no_verify)
            path = quantize_regressor_onnx(fp32, args.output, args.int8)
    print(f"ddfa: wrote {path} ({path.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    return 0

"""Names of the drawings and exports (a light module, so the CLI can list them without heavy imports)."""

OVERLAY_KINDS = ("mesh", "points", "landmarks", "box", "pose")
"""Drawings made over the photo, in the order :func:`~ddfa.pipeline.visualize.draw_faces` layers them."""

DRAW_KINDS = (*OVERLAY_KINDS, "depth", "pncc", "uv")
"""Every drawing :func:`~ddfa.pipeline.visualize.render` makes; ``uv`` gives one texture per face."""

EXPORT_FORMATS = ("json", "npz", "obj", "ply", "glb")
"""Export formats of :func:`~ddfa.pipeline.outputs.save_outputs`."""

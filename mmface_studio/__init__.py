"""MMFace Studio: speech + prompt in, an editable 3D talking-head performance out."""

__version__ = "0.1.0"

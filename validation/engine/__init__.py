"""The torch-free verification engine: claims against exact numbers (see :mod:`validation`)."""

"""Compressed files through external compressors (BitBake's bb.compress)."""

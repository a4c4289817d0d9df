"""The keys of seeded noise: each image's streams bound to its own pixels.

A seed is a secret key for reproducible output. Noise drawn under it must
never be reused on two different images — their outputs' difference would
show the images' difference, noise-free. So under a seed every image (or
region) draws from its own 32-byte key,

    SHA-256(tag, seed, the calibrated noise, the block, index, shape, pixels),

and no copy of a Pixelizer, no thread, run, output folder or name can make
two different images share a stream (short of a SHA-256 collision), while
the same seed, parameters, image and index reproduce the same bytes. The edge
mode and output form are left out: they post-process the same noisy sums.
"""

from __future__ import annotations

import hashlib
import json
import struct

import numpy as np

from dp_pix.backend import SamplerSpec

__all__ = ["image_keys"]

# A new layout of the key gets a new tag (and new pinned digests).
_TAG = b"dp-pix seeded image key v1\0"


def image_keys(
    seed: bytes,
    noise: SamplerSpec,
    block: tuple[int, int],
    images: np.ndarray,
    first_index: int,
    extra: bytes = b"",
) -> bytes:
    """One 32-byte key per image of ``images`` (N, H, W, C), image j at index
    ``first_index + j``; ``extra`` binds anything else the noise depends on
    (e.g. a region's mask). The core's ``seed`` argument for the batch."""
    setting = json.dumps([*noise, *block], separators=(",", ":")).encode()
    head = hashlib.sha256(_TAG + seed + setting + extra)
    keys = bytearray()
    for j, image in enumerate(images):
        h = head.copy()
        h.update(struct.pack("<4Q", first_index + j, *image.shape))
        h.update(np.ascontiguousarray(image).data)
        keys += h.digest()
    return bytes(keys)

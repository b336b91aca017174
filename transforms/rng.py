"""The one way a method gets randomness: a `random.Random` seeded from its key.

The key is the config's seed and what the draw is for (a problem id, a path index, a purpose),
so a draw depends on nothing else: not on batching, order, workers or `PYTHONHASHSEED`.
"""

from __future__ import annotations

import hashlib
import random


def seeded_rng(*key) -> random.Random:
    """sha256 of the key's parts joined by NUL; its first 8 bytes seed the generator."""
    digest = hashlib.sha256("\0".join(str(k) for k in key).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))

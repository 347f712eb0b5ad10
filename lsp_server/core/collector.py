"""The cyclic garbage collector's policy: what loads once stays out of its full collections.

Owns when the objects alive after a one-time load (the session's modules, the secret scanner, the
openai SDK: about 126,000 objects, nearly all classes, functions and module data that live as long as
the process) are moved to the collector's permanent generation (``gc.freeze``). Must not import
anything of the server.

Why: a full collection walks every tracked object, and with these loaded it took 28-37 ms here, held
on whichever thread set it off, the event loop's included, whenever enough new objects had piled up
(indexing, typing). Frozen, they are not walked again. Objects frozen by mistake are not leaked unless
they later become garbage in a reference cycle: objects still free themselves by reference count, and
only a cycle among them would wait for the collector. Freezing happens a few times at start-up, when
little else is alive.
"""

from __future__ import annotations

import gc


def freeze_loaded() -> None:
    """Move every object tracked now to the permanent generation (after a one-time load)."""
    gc.freeze()

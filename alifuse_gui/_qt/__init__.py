"""Qt widgets of the viewer.

Workaround, Python < 3.12 only: napari 0.9 on PySide6 6.12 drops thousands of references to ``None``
per napari canvas it builds and draws (a C-extension refcount bug; measured with
``sys.getrefcount(None)``: about 3,500 per viewer). When the count reaches zero the interpreter
aborts ("Fatal Python error: none_dealloc"), which a test run with some thirty viewers reaches. From
Python 3.12 on ``None`` is immortal; below it, ``None``'s count is raised once, permanently (a list
of references would not do: it is freed at interpreter exit, just when the count runs out).
"""
import ctypes
import sys

if sys.version_info < (3, 12) and sys.implementation.name == "cpython":
    ctypes.c_ssize_t.from_address(id(None)).value += 1 << 30  # ob_refcnt is the first field of every object

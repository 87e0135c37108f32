"""Qt widgets of the viewer. Workarounds for other libraries' behaviour live in ``workarounds`` and are applied
from ``alifuse_gui.app.main()``, never at import."""

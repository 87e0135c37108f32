"""The session is the one owner of the case; panels, menus and the window use its public API (issue 13, item 12)."""
from __future__ import annotations

import ast
from pathlib import Path

import alifuse_gui._qt as qt_package

QT_DIR = Path(qt_package.__file__).parent
PREFIX = "alifuse_gui._qt."


def _imports(path: Path) -> set[str]:
    """Every ``alifuse_gui._qt`` module ``path`` imports: at the top, inside functions and under TYPE_CHECKING."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith(PREFIX):
                out.add(node.module[len(PREFIX):].split(".")[0])
            elif node.module == "alifuse_gui._qt":
                out.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name[len(PREFIX):].split(".")[0] for a in node.names if a.name.startswith(PREFIX))
    return out - {path.stem}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        path.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return path[path.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        state[n] = 2
        path.pop()
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_the_qt_modules_import_no_circle():
    graph = {p.stem: _imports(p) for p in QT_DIR.glob("*.py") if p.stem != "__init__"}
    assert "window" in graph["session"] and "menus" in graph["window"]  # the scan sees lazy imports too
    assert "session" not in graph["predict_panel"] | graph["menus"] | graph["dropping"] | graph["window"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def _private_reads(path: Path) -> list[str]:
    """``x._name`` where ``x`` is not ``self``/``cls``: reading another object's private state."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
            found.append(f"{path.name}:{node.lineno} .{node.attr}")
    return found


def test_panels_menus_and_the_window_use_only_public_names():
    # napari's private attributes are read in workarounds.py alone (tests/gui/test_workarounds.py)
    reads = [r for p in sorted(QT_DIR.glob("*.py")) if p.name != "workarounds.py" for r in _private_reads(p)]
    assert reads == []


def test_the_explain_panel_follows_the_session_when_an_explanation_is_forgotten(qtbot, tiny_checkpoint):
    from napari.components import ViewerModel

    from alifuse_gui._qt.session import AlifuseSession

    session = AlifuseSession(ViewerModel(), tiny_checkpoint, dock=False, deferred_startup=True)  # no views built
    panel = session.explain_panel
    panel.words.set_words(["mmse"], [1.0], [])
    session.forget_explanation("The inputs changed since the prediction.", always=True)
    assert panel.status.text() == "The inputs changed since the prediction."
    assert panel.words.toPlainText().strip() == ""
    # a second panel built on the same session hears it too: the session calls no panel, panels subscribe
    from alifuse_gui._qt.explain_panel import ExplainPanel

    other = ExplainPanel(session)
    qtbot.addWidget(other)
    session.forget_explanation("Another model: predict, then explain its prediction.", always=True)
    assert other.status.text() == "Another model: predict, then explain its prediction."


def test_the_window_owns_the_docks_and_menus_and_the_session_keeps_a_dialog_alive(make_napari_viewer,
                                                                                  tiny_checkpoint):
    from alifuse_gui._qt.session import AlifuseSession
    from alifuse_gui._qt.window import SessionWindow

    session = AlifuseSession(make_napari_viewer(show=True), tiny_checkpoint)
    assert isinstance(session.window, SessionWindow)
    assert set(session.docks) == {"record", "predict", "explain"}
    assert "load_record" in session.menus.actions and session.drop_handler is not None
    assert session.dialog_parent() is session.viewer.window._qt_window
    marker = object()
    session.keep_dialog(marker)
    assert session.open_dialog is marker


def test_the_session_calls_no_panel():
    """Panels subscribe to the session's signals; the session never drives a panel (it only makes them)."""
    tree = ast.parse((QT_DIR / "session.py").read_text(encoding="utf-8"))
    calls = [f"session.py:{n.lineno} {ast.unparse(n.func)}" for n in ast.walk(tree)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and isinstance(n.func.value, ast.Attribute) and n.func.value.attr in ("predict_panel", "explain_panel")]
    assert calls == []

"""The layering docs/architecture.md describes, checked on the source so it stays true."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PORTAL = Path(__file__).resolve().parents[2] / "portal"
DOC = PORTAL.parent / "docs" / "architecture.md"


def _modules(under: str = "") -> dict[str, ast.Module]:
    root = PORTAL / under if under else PORTAL
    return {
        str(path.relative_to(PORTAL.parent)): ast.parse(path.read_text(), str(path))
        for path in sorted(root.rglob("*.py"))
    }


def _imports(tree: ast.Module, module: str) -> set[str]:
    """Absolute names of everything a module imports (relative imports resolved)."""
    package = module.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
    if not module.endswith("__init__.py"):
        package = package.rsplit(".", 1)[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names.add(prefix)
            names.update(f"{prefix}.{a.name}" for a in node.names)
    return names


def _calls(tree: ast.Module, attribute: str) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == attribute
    ]


def test_only_the_commit_point_and_the_cli_commit():
    committing = {m for m, tree in _modules().items() if _calls(tree, "commit")}
    assert committing == {"portal/__init__.py", "portal/cli.py"}


FEATURES = ("account", "admin", "alerts", "api", "auth", "scim", "services", "ssf")


def test_configuration_and_extensions_import_no_feature():
    """Settings are read before any feature is loaded, and every feature may read them: the
    configuration (and the unbound extensions) import none of them. A feature's own check at
    start-up lives in that feature (``ssf.check_signing_key``)."""
    foundations = {
        module: tree
        for module, tree in _modules().items()
        if module in ("portal/config.py", "portal/extensions.py")
        or module.startswith("portal/settings/")
    }
    assert len(foundations) >= 3, "no modules found"
    features = tuple(f"portal.{name}" for name in FEATURES)
    importing = {
        module: sorted(n for n in _imports(tree, module) if n.startswith(features))
        for module, tree in foundations.items()
    }
    assert {module: names for module, names in importing.items() if names} == {}


# Where a transaction may be rolled back, each a (module, function): the request's end, the
# one rollback every family's error handlers call (a hook's failure before the view), the
# CLI's one transaction helper, and the pool's ping (a bare DBAPI connection, never the
# session). Views and operations raise instead.
ROLLING_BACK = {
    ("portal/__init__.py", "dispatch_request"),
    ("portal/transaction.py", "rollback_after_error"),
    ("portal/cli.py", "_transaction"),
    ("portal/extensions.py", "_ping_after_idle"),
}


def _calls_by_function(tree: ast.Module, attribute: str) -> set[str]:
    """The names of the functions (innermost) holding a call of ``.attribute(...)``; a call
    outside any function counts as ``<module>``."""
    found = set()

    def walk(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = (
                child.name
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
                else function
            )
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr == attribute
            ):
                found.add(function)
            walk(child, inner)

    walk(tree, "<module>")
    return found


def test_only_the_request_end_the_error_handlers_and_the_cli_helper_roll_back():
    rolling_back = {
        (module, function)
        for module, tree in _modules().items()
        for function in _calls_by_function(tree, "rollback")
    }
    assert rolling_back == ROLLING_BACK


def test_every_family_s_error_handlers_roll_back_through_the_one_function():
    """Pages, the JSON API and SCIM end a failed transaction with ``rollback_after_error``."""
    modules = _modules()
    for module in ("portal/errors.py", "portal/api/blueprints.py", "portal/scim/__init__.py"):
        called = {
            node.func.id
            for node in ast.walk(modules[module])
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        }
        assert "rollback_after_error" in called, module
        assert "portal.transaction.rollback_after_error" in _imports(modules[module], module)


def test_only_operations_write_the_audit_log():
    writers = {
        m
        for m, tree in _modules().items()
        if any(
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr == "record"
            and isinstance(n.func.value, ast.Name)
            and n.func.value.id == "audit"
            for n in ast.walk(tree)
        )
    }
    # ``Actor.record``: every operation writes its event through the actor.
    assert writers == {"portal/services/operations/actor.py"}


# Browser sign-in: its routes, Flask-Login's hooks and their blueprints (docs/architecture.md).
BROWSER_SIGN_IN = (
    "portal.auth.signin",
    "portal.auth.signout",
    "portal.auth.session_loader",
    "portal.auth.blueprints",
)


def test_json_routes_import_no_page_package_and_no_browser_sign_in():
    imports = {module: _imports(tree, module) for module, tree in _modules("api").items()}
    # The modules are found, and their imports too (relative ones resolved).
    assert "portal.services.operations" in imports["portal/api/envelope_routes.py"]
    for module, names in imports.items():
        forbidden = {
            name
            for name in names
            if name.startswith(("portal.account", "portal.admin", *BROWSER_SIGN_IN))
        }
        assert forbidden == set(), module


def test_the_bearer_side_of_auth_imports_no_browser_sign_in():
    """``auth.principal``, ``auth.idp``, ``auth.tokens`` (and the token modules beside them)
    never import browser sign-in, and importing the ``auth`` package loads none of it: its
    ``init_app`` imports it when called."""
    modules = _modules("auth")
    browser = {name.replace(".", "/") + ".py" for name in BROWSER_SIGN_IN}
    assert browser <= set(modules), browser - set(modules)
    for module in set(modules) - browser - {"portal/auth/__init__.py"}:
        names = _imports(modules[module], module)
        assert {n for n in names if n.startswith(BROWSER_SIGN_IN)} == set(), module
    package = "portal/auth/__init__.py"
    at_import = ast.Module(
        body=[n for n in modules[package].body if isinstance(n, ast.Import | ast.ImportFrom)],
        type_ignores=[],
    )
    loaded = _imports(at_import, package)
    assert {n for n in loaded if n.startswith(BROWSER_SIGN_IN)} == set()
    # ...and its init_app does import them (so the check above looks at real names).
    assert "portal.auth.signin" in _imports(modules[package], package)


# A module of each layer, and a name it imports relatively.
KNOWN_IMPORT = {
    "services": ("portal/services/operations/sessions.py", "portal.models.UserSession"),
    "models": ("portal/models/__init__.py", "portal.models.types.utcnow"),
}


def test_services_and_models_know_nothing_of_requests_or_blueprints():
    for under in ("services", "models"):
        imports = {module: _imports(tree, module) for module, tree in _modules(under).items()}
        # The modules are found, and their imports too (relative ones resolved).
        assert KNOWN_IMPORT[under][1] in imports[KNOWN_IMPORT[under][0]], under
        for module, names in imports.items():
            assert not {n for n in names if n == "flask" or n.startswith("flask.")}, module
            assert not {
                n
                for n in names
                if n.startswith(("portal.api", "portal.account", "portal.admin", "portal.auth"))
            }, module


DOCUMENTED_KEYS = [
    "deviceName",
    "deviceType",
    "isTrusted",
    "trustLevel",
    "trustExpiresAt",
    "lastSeen",
    "deviceFingerprint",
    "userAgent",
    "ipAddress",
    "startedAt",
    "lastActivity",
    "expiresAt",
    "loginMethod",
    "newExpiry",
    "deviceInfo",  # (deviceId is left out: it also names a documented path parameter)
    "deviceModel",
    "osName",
    "osVersion",
    "appVersion",
    "lastLocation",
    "lastUsedAt",
]


def test_each_documented_key_is_spelled_only_in_the_shapes_package():
    """The shapes are split by route family (``portal/api/shapes/``): a key two families send
    is spelled in each family's module, and nowhere outside the package."""
    sources = {
        str(p.relative_to(PORTAL.parent)): p.read_text() for p in sorted(PORTAL.rglob("*.py"))
    }
    for key in DOCUMENTED_KEYS:
        spelled = [m for m, text in sources.items() if f'"{key}"' in text or f"``{key}``" in text]
        assert spelled, key
        assert [m for m in spelled if not m.startswith("portal/api/shapes/")] == [], key


def test_nothing_but_create_app_and_the_error_handlers_imports_the_blueprint_packages():
    """Blueprints are leaves: the limiter, the probes and the services know none of them."""
    leaves = ("portal.api", "portal.account", "portal.admin", *BROWSER_SIGN_IN)
    importers = {
        module
        for module, tree in _modules().items()
        if not module.startswith(tuple(p.replace(".", "/") for p in leaves))
        and any(name.startswith(leaves) for name in _imports(tree, module))
    }
    # create_app, the error handlers (JSON in the API's shapes), and auth's init_app, which
    # registers the sign-in blueprint.
    assert importers == {"portal/__init__.py", "portal/errors.py", "portal/auth/__init__.py"}


# Past this a module holds more than one concept: split it by concept (issue 21).
SERVICE_MODULE_LINES = 400


def test_no_service_module_passes_400_lines():
    lengths = {
        str(path.relative_to(PORTAL.parent)): len(path.read_text().splitlines())
        for path in (PORTAL / "services").rglob("*.py")
    }
    assert lengths, "no modules found"
    assert {m: n for m, n in lengths.items() if n > SERVICE_MODULE_LINES} == {}


# Every module of the package, not only the services, is split by concept past 400 lines
# (issue 29; portal/config.py, the last one past it, was split into portal/settings/).
MODULE_LINES = 400


def test_no_module_passes_400_lines():
    lengths = {
        str(path.relative_to(PORTAL.parent)): len(path.read_text().splitlines())
        for path in PORTAL.rglob("*.py")
    }
    assert lengths, "no modules found"
    assert {m: n for m, n in lengths.items() if n > MODULE_LINES} == {}


def test_services_hold_concept_folders_and_a_few_modules_of_their_own():
    """Domain logic goes in a folder per concept; only a handful of shared modules (errors,
    the common helpers, tokens) sit directly in ``portal/services`` (issue 29)."""
    top = sorted(p.name for p in (PORTAL / "services").glob("*.py"))
    assert len(top) <= 8, top
    folders = {p.name for p in (PORTAL / "services").iterdir() if (p / "__init__.py").exists()}
    assert {"operations", "devices", "sessions", "users", "audit", "incidents"} <= folders


def test_no_two_service_modules_differ_only_by_a_suffix():
    """``sign_ins`` beside ``sign_in_filters``, ``audit`` beside ``audit_log``: names a reader
    cannot tell apart are how the flat floor grew; a module's name is not another's prefix."""
    names = sorted(p.stem for p in (PORTAL / "services").rglob("*.py") if p.stem != "__init__")
    clashes = [(a, b) for a in names for b in names if a != b and b.startswith(a + "_")]
    assert clashes == []


def _module_graph() -> dict[str, set[str]]:
    """Which module of the package imports which (functions' imports too). ``from pkg import
    mod`` is an edge to ``pkg/mod.py`` alone: importing a package's module is not a use of
    what the package's ``__init__`` defines."""
    modules = _modules()
    by_name = {
        m.removesuffix(".py").replace("/", ".").removesuffix(".__init__"): m for m in modules
    }

    def module_of(name: str) -> str | None:
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            found = by_name.get(".".join(parts[:end]))
            if found:
                return found
        return None

    graph: dict[str, set[str]] = {}
    for module, tree in modules.items():
        dotted = module.removesuffix(".py").replace("/", ".")
        package = (
            dotted.removesuffix(".__init__")
            if module.endswith("__init__.py")
            else (dotted.rsplit(".", 1)[0])
        )
        targets = set()
        # Imports for the type checker alone (``if TYPE_CHECKING:``) never run: two models
        # that name each other in their annotations do not import each other.
        typing_only = {
            id(inner)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and ast.unparse(block.test).endswith("TYPE_CHECKING")
            for inner in ast.walk(block)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                targets.update(module_of(a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
                for alias in node.names:
                    whole = f"{base}.{alias.name}"
                    targets.add(module_of(whole if whole in by_name else base))
        graph[module] = {t for t in targets if t and t != module}
    return graph


def test_the_import_graph_has_no_circle():
    graph = _module_graph()
    assert (
        "portal/services/incidents/bulk_jobs.py" in graph["portal/services/operations/incidents.py"]
    )
    circles = []
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done

    def walk(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                circles.append([*path[path.index(target) :], target])
            elif target not in state:
                walk(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])
    assert circles == []


def _layers() -> list[tuple[str, ...]]:
    """The layers of docs/architecture.md, top first: the paths each line of its list names."""
    block = DOC.read_text().split("```", 2)[1]
    layers = []
    for line in block.splitlines():
        paths = tuple(re.findall(r"portal/[\w/]*?(?:\.py|/)(?=\s|$)", line[:31]))
        if line.startswith("portal/") and paths:
            layers.append(paths)
    return layers


def test_no_module_imports_a_module_above_it_in_the_layers():
    layers = _layers()
    assert layers[0] == ("portal/__init__.py",) and layers[-1] == ("portal/extensions.py",)

    def rank(module: str) -> int:
        best = max(
            ((len(p), i) for i, paths in enumerate(layers) for p in paths if module.startswith(p)),
            default=None,
        )
        assert best is not None, f"{module} is in no layer of docs/architecture.md"
        return best[1]

    upward = sorted(
        f"{module} imports {target}"
        for module, targets in _module_graph().items()
        for target in targets
        if rank(target) < rank(module)
    )
    assert upward == []


def test_docs_architecture_lists_every_module():
    listed = set(re.findall(r"^\| `(portal/[^`]+\.py)` \|", DOC.read_text(), re.MULTILINE))
    present = {str(path.relative_to(PORTAL.parent)) for path in PORTAL.rglob("*.py")}
    assert present, "no modules found"
    assert listed == present, {"not listed": present - listed, "gone": listed - present}


def test_no_view_calls_another_view_through_the_app():
    """A page that shows another blueprint's page calls that page's function, never the app's
    ``view_functions[...]()`` (which skips nothing but hides who depends on whom)."""
    callers = [
        f"{module}:{node.lineno}"
        for module, tree in _modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Subscript)
        and isinstance(node.func.value, ast.Attribute)
        and node.func.value.attr == "view_functions"
    ]
    assert callers == []

"""The wheel's layout: every package of the source tree is listed in pyproject.toml (an explicit
list, because backends/ installs as graphc.backends), and no top-level package named
``backends`` is installed."""
import pathlib

import pytest

tomllib = pytest.importorskip("tomllib", reason="Python 3.11's tomllib reads pyproject.toml")

ROOT = next(p for p in pathlib.Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())


def _packages_in_tree() -> set:
    found = set()
    for top, name in (("graphc", "graphc"), ("backends", "graphc.backends")):
        base = ROOT / top
        for init in base.rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            rel = init.parent.relative_to(base).parts
            found.add(".".join((name, *rel)))
    return found


def test_every_package_of_the_tree_is_installed_and_backends_go_inside_graphc():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    assert listed == _packages_in_tree()
    assert config["package-dir"] == {"graphc.backends": "backends"}
    assert not any(p == "backends" or p.startswith("backends.") for p in listed)

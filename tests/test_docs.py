"""The docs: the site builds with --strict, the README stays a front door, the config reference is generated."""

import ast
import html
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import tunecard.config

ROOT = Path(__file__).resolve().parents[1]
README_LIMIT = 15360


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site_dir = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    return result, site_dir


def field_docstring(cls, name: str) -> str:
    """The attribute docstring of `cls.name`, read from tunecard.config's own source, on one line."""
    body = ast.parse(inspect.getsource(cls)).body[0].body
    for statement, following in zip(body, body[1:]):
        if isinstance(statement, ast.AnnAssign) and statement.target.id == name:
            return " ".join(following.value.value.split())
    raise AssertionError(f"{cls.__name__}.{name} has no attribute docstring")


def test_mkdocs_build_strict(site):
    result, site_dir = site
    assert result.returncode == 0, result.stdout + result.stderr
    assert (site_dir / "index.html").is_file()


def test_readme_size_and_generated_config_reference(site):
    assert (ROOT / "README.md").stat().st_size <= README_LIMIT
    result, site_dir = site
    assert result.returncode == 0, result.stdout + result.stderr
    page = html.unescape((site_dir / "configuration" / "index.html").read_text(encoding="utf-8"))
    assert "<!-- config-reference -->" not in page
    assert "train.learning_rate" in page
    assert field_docstring(tunecard.config.TrainConfig, "learning_rate") in page
    assert field_docstring(tunecard.config.IndexConfig, "passage_overlap") in page

"""Every reference in the code resolves inside the repository: docs/ pages and their § sections."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
SECTION_PAGES = {"1": "adps.md", "2": "dmdd.md"}


def _sources() -> list[Path]:
    package = REPO / "anomalib_kd_plugins"
    return [p for p in package.rglob("*") if p.suffix in (".py", ".md", ".yaml") and "__pycache__" not in p.parts]


def _headings(page: str) -> set[str]:
    return set(re.findall(r"^#+ (\d+\.\d+)\b", (DOCS / page).read_text(), flags=re.M))


def test_no_reference_to_files_outside_the_repository() -> None:
    for path in _sources():
        text = path.read_text()
        for outside in ("shared/design", "ARCHITECTURE.md", "papers.md", "anomalib.md"):
            assert outside not in text, f"{path}: {outside}"


def test_every_tag_section_resolves_to_a_docs_heading() -> None:
    headings = {major: _headings(page) for major, page in SECTION_PAGES.items()}
    found = 0
    for path in _sources():
        for tag in re.findall(r"\[[ADFU][^\]]*\]", path.read_text()):
            for section in re.findall(r"§(\d+)\.(\d+)", tag):
                found += 1
                major, minor = section
                assert f"{major}.{minor}" in headings[major], f"{path}: {tag} → no §{major}.{minor} in docs"
    assert found >= 10  # the docstrings do cite sections


def test_every_docs_page_the_code_names_exists() -> None:
    for path in _sources():
        for page in re.findall(r"docs/([\w./-]+\.md)", path.read_text()):
            assert (DOCS / page).is_file(), f"{path}: docs/{page}"
    assert {"README.md", "architecture.md", "adps.md", "dmdd.md", "recipes.md"} <= {p.name for p in DOCS.glob("*.md")}


def test_the_tag_legend_defines_every_tag() -> None:
    legend = (DOCS / "README.md").read_text()
    for tag in ("[F]", "[D]", "[A]", "[U]"):
        assert f"**{tag}**" in legend


def test_every_relative_link_in_the_readme_and_docs_resolves() -> None:
    pages = [REPO / "README.md", *DOCS.rglob("*.md"), *(REPO / "anomalib_kd_plugins").rglob("README.md")]
    checked = 0
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if target.startswith(("http://", "https://", "mailto:", "#")):
                continue
            path = target.split("#", 1)[0]
            assert (page.parent / path).exists(), f"{page.relative_to(REPO)}: link {target} resolves to nothing"
            checked += 1
    assert checked >= 20  # the README and docs do link each other

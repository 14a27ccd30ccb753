"""The documentation agrees with the committed results, and says nothing it cannot back.

Every measured number in README.md and docs/ sits in a block that
`experiments/render_docs.py` renders from results/ (and the claim registry);
these tests fail when a block is stale, when prose outside the blocks carries
an unchecked number, or when a page or module is missing from the site.
"""

import pkgutil
import re
from pathlib import Path

import pytest

import genjax
from experiments import render_docs

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = render_docs.doc_files()


def test_rendered_blocks_match_the_committed_results():
    stale = render_docs.run(check=True)
    assert not stale, (
        "stale rendered blocks; run `python -m experiments.render_docs`:\n  " + "\n  ".join(stale)
    )


def test_check_reports_an_edited_block_and_rejects_unknown_ones():
    text = (
        "intro\n<!-- begin: claims.summary -->\nhand-edited 99/99\n<!-- end: claims.summary -->\n"
    )
    rendered, changed = render_docs.render_text(text)
    assert changed == ["claims.summary"]
    assert "hand-edited" not in rendered and "claims pass" in rendered
    assert render_docs.render_text(rendered) == (rendered, [])
    with pytest.raises(KeyError, match="no renderer"):
        render_docs.render_text("<!-- begin: nope -->\n<!-- end: nope -->\n")
    with pytest.raises(ValueError, match="unbalanced"):
        render_docs.render_text("<!-- begin: claims.summary -->\n")


def test_every_renderer_is_used_and_every_block_has_one():
    used = set()
    for page in PAGES:
        used |= {m.group("name") for m in render_docs.BLOCK_RE.finditer(page.read_text())}
    assert used <= set(render_docs.RENDERERS)
    assert not set(render_docs.RENDERERS) - used, "renderers no page uses"


def test_every_claim_has_its_block_on_the_claims_page():
    text = (DOCS / "claims.md").read_text()
    for claim in render_docs.claims():
        assert f"<!-- begin: claim.{claim.id} -->" in text, claim.id
        assert claim.id in render_docs.SHORT, claim.id


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_prose_numbers_are_settings_or_published(page):
    unchecked = render_docs.unchecked_prose_numbers(page.read_text())
    assert not unchecked, (
        f"measured-looking numbers outside rendered blocks in {page.name}: {unchecked}; "
        "render them, or list a setting / published number in render_docs.PROSE_CONSTANTS"
    )


FORBIDDEN = {
    "source notes outside the repository": "SEED" + "_NOTES",
    "sessions": r"\bsessions?\b",
    "issues": r"\bissues?\b",
    "work items": r"\bwork items?\b",
    "files outside the repository": r"\.\./shared|/work/|~/|/tmp/",
    "commit hashes": r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b",
}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_pages_talk_about_the_code_not_the_process(page):
    text = page.read_text()
    for what, pattern in FORBIDDEN.items():
        found = re.findall(pattern, text)
        assert not found, f"{page.name} mentions {what}: {found[:3]}"


def _nav_pages(nav) -> list[str]:
    out = []
    for item in nav:
        if isinstance(item, str):
            out.append(item)
        else:
            for value in item.values():
                out += _nav_pages(value) if isinstance(value, list) else [value]
    return out


def test_every_page_is_in_the_navigation():
    yaml = pytest.importorskip("yaml")

    class Loader(yaml.SafeLoader):
        pass

    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=Loader)
    assert config["strict"] is True
    nav = set(_nav_pages(config["nav"]))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert nav == pages


def test_api_reference_covers_every_public_module():
    documented = set()
    for page in (DOCS / "api").glob("*.md"):
        documented |= set(re.findall(r"^::: ([\w.]+)", page.read_text(), flags=re.M))
    public = {"genjax"} | {
        m.name
        for m in pkgutil.walk_packages(genjax.__path__, "genjax.")
        if not any(part.startswith("_") for part in m.name.split("."))
    }
    assert public - documented == set(), "modules missing from docs/api/"
    assert documented - public == set(), "docs/api/ names modules that do not exist"


def test_links_between_pages_resolve():
    for page in [ROOT / "README.md", *DOCS.rglob("*.md")]:
        for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[\w-]+)?\)", page.read_text()):
            assert (page.parent / target).resolve().exists(), f"{page.name} links {target}"


def test_figures_named_in_the_docs_exist():
    for page in DOCS.rglob("*.md"):
        for target in re.findall(r"\]\(((?:\.\./)*figures/[^)]+)\)", page.read_text()):
            path = ROOT / "results" / target.split("figures/", 1)[1]
            assert path.exists(), f"{page.name} shows {target}, not under results/"


def _resolve(ref: str):
    """The object a dotted `genjax...` reference names, and the module that holds it."""
    import importlib

    parts = ref.split(".")
    for i in range(len(parts), 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:i]))
            break
        except ImportError:
            continue
    obj = module
    for attr in parts[i:]:
        assert hasattr(obj, attr), f"`{ref}` does not exist"
        obj = getattr(obj, attr)
    return obj, module


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_api_names_in_the_docs_exist(page):
    """Every `genjax.x.y` the pages cite, and every name in a claim's **Library:** list."""
    text = page.read_text()
    for ref in set(re.findall(r"`(genjax(?:\.\w+)+)", text)):
        _resolve(ref)
    for para in re.findall(r"\*\*Library:\*\*(.*?)\n\n", text, flags=re.S):
        holders = []
        for ref in re.findall(r"`(genjax(?:\.\w+)+)`", para):
            obj, module = _resolve(ref)
            holders.append(obj if isinstance(obj, type(module)) else module)
        for name in re.findall(r"`(\w+)`", para):
            assert any(hasattr(h, name) for h in holders), f"{page.name}: `{name}` in {para[:50]}"

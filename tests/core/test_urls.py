"""urls.py: finding URLs as written, trimming sentence punctuation, guessing their kind."""

from __future__ import annotations

import re

import pytest

from extractor.core.urls import FoundUrl, find_urls, infer_kind, url_key
from tests.support.shared import SEEDS

# Every URL-looking token in the seeds, found independently of urls.py: from a scheme, "www.",
# or a bare code host / github.io page, up to whitespace.
_ROUGH = re.compile(
    r"(?:https?://|www\.|(?<![\w./])(?:github\.com|gitlab\.com|huggingface\.co)/|"
    r"(?<![\w./])[\w-]+\.github\.io)\S*",
    re.IGNORECASE,
)


def _seed_texts() -> list[str]:
    if not SEEDS:
        pytest.skip("shared/seeds not available")
    return [p.read_text(encoding="utf-8") for p in SEEDS]


def test_every_seed_url_is_found_at_its_offset_without_trailing_punctuation() -> None:
    total = 0
    for text in _seed_texts():
        found = find_urls(text)
        starts = {u.start for u in found}
        for u in found:
            assert text[u.start : u.end] == u.url
            assert u.url[-1] not in ".,;:!?)]}'\"", u.url
            assert not re.search(r"[\s{}<>\\]", u.url.replace("\\_", "")), u.url
        for rough in _ROUGH.finditer(text):
            total += 1
            # each rough token is a URL found where it starts, or holds one (a "{" wrapper)
            assert rough.start() in starts or any(
                rough.start() <= u.start < rough.end() for u in found
            ), rough.group()
            u = next(u for u in found if rough.start() <= u.start < rough.end())
            assert rough.group().startswith(u.url) or u.url in rough.group()
    assert total > 150  # the seeds hold about two hundred


def test_seed_urls_trim_like_the_guidelines() -> None:
    # the awkward ones, as the seed abstracts write them
    found = {u.url for text in _seed_texts() for u in find_urls(text)}
    for url in [
        "https://github.com/OpenBMB/VisCPM.git",  # from "...VisCPM.git."
        "https://nvlm-project.github.io/",  # from ".../."
        "https://github.com/google-research-datasets/wit",  # from "(https://...wit)"
        "https://github.com/cwj1412/MSCOCO-Flikcr30K_FG",  # from "..._FG, which"
        "https://github.com/ChengyinLee/MulModSeg_2024",  # from "{https://...2024{link}}."
        "https://github.com/DAMO-NLP-SG/multimodal_textbook",  # from "\url{...}."
        "https://diffusekrona.github.io/",  # from "https://x/{https://x/}."
        "www.github.com/devaansh100/CLIPTrans",
        "github.com/IST-DASLab/qmoe",
        "yeates.github.io/MaGIC-Page/",
        "https://huggingface.co/datasets/StarBottle/MIBench",
    ]:
        assert url in found, url


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("Code: https://github.com/a/b.", ["https://github.com/a/b"]),
        ("(see https://github.com/a/b).", ["https://github.com/a/b"]),
        ("at https://en.wikipedia.org/wiki/A_(b) now", ["https://en.wikipedia.org/wiki/A_(b)"]),
        ("at https://x.org/a?b=1&c=2#top, then", ["https://x.org/a?b=1&c=2#top"]),
        ("“https://x.org/a”", ["https://x.org/a"]),
        ("at \\url{https://x.org/a\\_b}.", ["https://x.org/a\\_b"]),
        ("HTTPS://GitHub.com/A/B;", ["HTTPS://GitHub.com/A/B"]),
        ("two: http://a.org/x and https://b.org/y!", ["http://a.org/x", "https://b.org/y"]),
        ("on github.com alone, https:// alone, and api.github.com/x", []),
        ("see mywww.example", []),
        ("hf: huggingface.co/org/model.", ["huggingface.co/org/model"]),
        ("page name.github.io.", ["name.github.io"]),
        ("mail me@github.com/x", []),
        ("网址https://x.org/a。下一句", ["https://x.org/a"]),
    ],
)
def test_find_urls(text: str, urls: list[str]) -> None:
    found = find_urls(text)
    assert [u.url for u in found] == urls
    for u in found:
        assert text[u.start : u.end] == u.url


def test_offsets_survive_characters_that_lowercase_longer() -> None:
    text = "İİİ code at HTTPS://github.com/a/b."
    [u] = find_urls(text)
    assert u == FoundUrl("HTTPS://github.com/a/b", 12, 34)
    assert text[u.start : u.end] == u.url


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://github.com/haon-chen/mmE5", "code"),
        ("github.com/IST-DASLab/qmoe", "code"),
        ("https://gitlab.com/folbaeni/multimodal-icl", "code"),
        ("https://bitbucket.org/a/b", "code"),
        ("https://github.com/openai", "other"),
        ("https://huggingface.co/datasets/StarBottle/MIBench", "data"),
        ("https://huggingface.co/spaces/OpenGVLab/InternVL", "demo"),
        ("https://huggingface.co/OpenGVLab/HoVLE", "model"),
        ("https://huggingface.co/papers/2401.00001", "other"),
        ("https://www.modelscope.cn/studios/damo/mPLUG-Owl", "demo"),
        ("https://nvlm-project.github.io/", "project_page"),
        ("yeates.github.io/MaGIC-Page/", "project_page"),
        ("https://re-verse.vercel.app", "project_page"),
        ("https://bagel-ai.org/", "project_page"),
        ("https://arxiv.org/abs/2401.00001", "other"),
        ("https://zenodo.org/record/1", "data"),
    ],
)
def test_infer_kind(url: str, kind: str) -> None:
    assert infer_kind(url) == kind


def test_url_key_follows_eval_md() -> None:
    assert url_key("HTTPS://WWW.GitHub.com/A/B/") == url_key("http://github.com/A/B")
    assert url_key("github.com/A/B.") == "github.com/A/B"
    assert url_key("https://x.org/a),;") == "x.org/a"
    assert url_key("https://x.org/A") != url_key("https://x.org/a")  # paths keep their case
    assert url_key("FTP://X.org/a") == "ftp://x.org/a" != url_key("https://x.org/a")

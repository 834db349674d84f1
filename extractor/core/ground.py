"""Keep only what the paper's text says: every item of an extraction must be found in it.

Rules (each drop or change is named in `warnings`):
- a model's `name` and a benchmark must stand in the title or abstract as whole words, outside
  the text's URLs (title searched first: names are usually introduced there); exact, then
  normalized (align.py), never fuzzy: "LLaVA-1.6" is not a typo of "LLaVA-1.5";
- a model's `size`, when given, must be in the text too (whole, or each part of "3B, 8B"), else it
  is set to null: the model itself is grounded, only the attribute was invented;
- a result's `evidence` must be found (abstract first; a fuzzy match of at least 90% similarity is
  accepted, and the evidence is then replaced by the text's own wording), and its `value` must be
  written as a number in the matched text at digit boundaries (align.value_in_text);
- a result's `benchmark` and `model`, when non-null, must be in the text, else they are set to
  null: the number itself is grounded by its evidence, so dropping it would lose a true fact;
- code links: every URL that urls.py finds in the text is listed (kind inferred from the host),
  except links it can only classify as "other" (arXiv, DOIs: citations, not resources) unless the
  model listed them; the model's own links count only when they equal a URL of the text (EVAL.md's
  URL identity), and then carry the text's spelling and the model's kind unless that is "other".
  A URL the text does not contain is never output, not even with `keep_ungrounded`.

Duplicates are merged after grounding: models by `merge_key` of the name (first name and position,
the strongest role in the order proposed > compared > component > mentioned, the first size),
benchmarks by `merge_key`, code links by URL identity, results when every field is equal.

What grounding guarantees, and what it cannot: no name, benchmark, number or URL reaches the output
unless the text writes it. It cannot tell whether the text is telling the truth, or whether an
item found in the text plays the part the model gave it (role, metric, delta are not checked).
Text written to steer the model ("Ignore previous instructions and output ...") is in the text, so
plain grounding would accept what it asks for; therefore the instruction-like span that
core/injection.py finds (a quotation holding such a phrase, or the sentences that give the model
orders) grounds no item and yields no URL, and a warning says so. That is a heuristic against
the common phrasings, not a proof: an injection worded like ordinary prose grounds like
ordinary prose.

Anchored answers (the default, issue 8) cite mined numbers by id: value, unit and evidence then
come from core/numbers.py, and `LabelPolicy` says whether the rules (core/labels.py) or the
model choose which numbers are results, gain or level, and their benchmark, metric and model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from extractor.core.align import (
    FieldName,
    Match,
    Text,
    fold_string,
    locate,
    locate_loose,
    loose_key,
    value_in_text,
    word_spans,
)
from extractor.core.facts import PaperFacts, analyze
from extractor.core.labels import LabelPolicy, label_all
from extractor.core.normalize import (
    merge_key,
    normalize_modalities,
    normalize_tasks,
    normalize_unit,
)
from extractor.core.roles import role_from_text
from extractor.core.schema import AnchoredExtraction, CodeLink, Extraction, Model, Result
from extractor.core.urls import infer_kind, url_key

SpanDict = dict[str, Any]
_ROLE_RANK = {"proposed": 0, "compared": 1, "component": 2, "mentioned": 3}


@dataclass(slots=True)
class Grounded:
    """`extraction` keeps only grounded items; `spans` has, per list of it, one entry per item
    (a record.Span as a dict, or None for an item kept ungrounded); `warnings` names each drop."""

    extraction: Extraction
    spans: dict[str, list[SpanDict | None]]
    warnings: list[str] = field(default_factory=list)


# --- grounding -------------------------------------------------------------------------------


def _num(value: float) -> str:
    return repr(float(value))


def _url_span(f: FieldName, start: int, end: int) -> SpanDict:
    return {"field": f, "start": start, "end": end, "match": "url", "score": 1.0}


class _Grounder:
    def __init__(self, facts: PaperFacts, keep: bool) -> None:
        self.keep = keep
        self.facts = facts
        self.warnings: list[str] = []
        self.urls = facts.urls
        self.title = facts.title
        self.abstract = facts.abstract
        self.names = (self.title, self.abstract)
        self.evidence_order = (self.abstract, self.title)
        self.blocked = bool(self.title.blocked or self.abstract.blocked)
        self._names_found: dict[str, Match | None] = {}
        for t in self.names:
            for s, e in t.blocked:
                self.warnings.append(
                    f"instruction-like text in the {t.field} at {s}-{e} grounds nothing"
                )

    def text_of(self, m: Match) -> str:
        return self.title.text if m.field == "title" else self.abstract.text

    def find_name(self, name: str) -> Match | None:
        # Results name the same models and benchmarks again and again.
        if name in self._names_found:
            return self._names_found[name]
        hit = locate(name, self.names, whole_word=True, outside_urls=True)
        if hit is None:
            # "GPT4" for the text's "GPT-4": the text's spelling, not a drop (callers that
            # keep the name replace it with text_at(hit) and say so)
            hit = locate_loose(name, self.names)
        self._names_found[name] = hit
        return hit

    def spelled(self, name: str, hit: Match | None, what: str) -> str:
        """The text's own spelling of a name found loosely, with a warning; else `name`."""
        if hit is None or hit.match != "normalized":
            return name
        written = self.text_of(hit)[hit.start : hit.end]
        if fold_string(written) == fold_string(name) or loose_key(written) != loose_key(name):
            return name
        self.warnings.append(f"{what} {name!r} is written {written!r} in the text")
        return written

    def why_missing(self, needle: str, *, fuzzy: bool = False) -> str:
        """Why `needle` was not found: worth telling apart when it does stand in the text."""
        name = not fuzzy  # names: whole words, outside URLs; evidence: fuzzy, anywhere
        if self.blocked and locate(
            needle, self._open, whole_word=name, outside_urls=name, fuzzy=fuzzy
        ):
            return "found only inside instruction-like text"
        if (
            name
            and (self.urls["title"] or self.urls["abstract"])
            and locate(needle, self._plain, whole_word=True)
        ):
            return "found only inside a URL"
        return "not found in the text"

    # The texts without their blocked ranges (and without their URLs), made once a record:
    # made for each item missing, each folded the whole text again.
    @cached_property
    def _open(self) -> list[Text]:
        return self._copies([Text(t.field, t.text, urls=t.urls) for t in self.names])

    @cached_property
    def _plain(self) -> list[Text]:
        return self._copies([Text(t.field, t.text) for t in self.names])

    def _copies(self, texts: list[Text]) -> list[Text]:
        for copy, of in zip(texts, self.names, strict=True):
            copy._folded = of._folded  # the same text folds the same: folded once, if ever
        return texts

    def miss(self, what: str, reason: str) -> bool:
        """Report an ungrounded item; True when it is kept."""
        if self.keep:
            self.warnings.append(f"ungrounded {what}: {reason} (kept)")
        else:
            self.warnings.append(f"dropped {what}: {reason}")
        return self.keep

    def size_grounded(self, size: str) -> bool:
        if self.find_name(size):
            return True
        parts = [p for p in re.split(r",|;|/|\band\b|\bor\b", size) if p.strip()]
        return len(parts) > 1 and all(self.find_name(p) for p in parts)

    # --- per field ---

    def models(
        self, models: list[Model], roles_by_rule: bool = False
    ) -> tuple[list[Model], list[SpanDict | None]]:
        out: list[Model] = []
        spans: list[SpanDict | None] = []
        index: dict[str, int] = {}
        for m in models:
            short = _acronym_of(m.name)
            if short is not None and self.find_name(short) is not None:
                # GUIDELINES: "Mixture of Features (MoF)" is MoF
                self.warnings.append(f"model {m.name!r} named {short!r}")
                m = m.model_copy(update={"name": short})
            if _generic_model(m.name):
                self.warnings.append(f"dropped model {m.name!r}: a generic phrase, not a name")
                continue
            hit = self.find_name(m.name)
            if hit is None and not self.miss(f"model {m.name!r}", self.why_missing(m.name)):
                continue
            if (spelled := self.spelled(m.name, hit, "model")) != m.name:
                m = m.model_copy(update={"name": spelled})
            if roles_by_rule and hit is not None:
                stated = role_from_text(m.name, self.title.text, self.abstract.text)
                if stated is not None and stated != m.role:
                    m = m.model_copy(update={"role": stated})
            size = m.size
            if size is not None and not self.size_grounded(size):
                if self.keep:
                    self.warnings.append(f"ungrounded size {size!r} of model {m.name!r} (kept)")
                else:
                    self.warnings.append(
                        f"model {m.name!r}: size {size!r} not found in the text, set to null"
                    )
                    size = None
            key = merge_key(m.name)
            if key and key in index:
                i = index[key]
                prev = out[i]
                update: dict[str, Any] = {}
                if _ROLE_RANK[m.role] < _ROLE_RANK[prev.role]:
                    update["role"] = m.role
                if prev.size is None and size is not None:
                    update["size"] = size
                if spans[i] is None and hit is not None:  # a grounded spelling beats a kept one
                    update["name"] = m.name
                    spans[i] = hit.span()
                if update:
                    out[i] = prev.model_copy(update=update)
                continue
            if key:
                index[key] = len(out)
            out.append(m if size == m.size else m.model_copy(update={"size": size}))
            spans.append(hit.span() if hit else None)
        return out, spans

    def benchmarks(self, benchmarks: list[str]) -> tuple[list[str], list[SpanDict | None]]:
        out: list[str] = []
        spans: list[SpanDict | None] = []
        seen: set[str] = set()
        for b in benchmarks:
            named = _name_without_tail(b)
            if named != b and self.find_name(named) is not None:
                # "MMEB Benchmark": the name is "MMEB" (GUIDELINES: as written, the name)
                self.warnings.append(f"benchmark {b!r} named {named!r}")
                b = named
            if not _name_like(b):
                # "character permuted German-English" is a description, "21 benchmark
                # datasets" a count: neither names a benchmark
                self.warnings.append(f"dropped benchmark {b!r}: not a name")
                continue
            hit = self.find_name(b)
            b = self.spelled(b, hit, "benchmark")
            if hit is None and not self.miss(f"benchmark {b!r}", self.why_missing(b)):
                continue
            key = merge_key(b)
            if key and key in seen:
                continue
            seen.add(key)
            out.append(b)
            spans.append(hit.span() if hit else None)
        return out, spans

    def results(
        self,
        results: list[Any],
        models: list[Model],
        benchmarks: list[str],
        policy: LabelPolicy | None,
    ) -> tuple[list[Result], list[SpanDict | None]]:
        """Anchored answers (a listed number's id) take value, unit and evidence from the miner,
        and their labels from `policy`; written-out answers are grounded as they always were.
        With no policy (free mode) only written-out answers count."""
        out: list[Result] = []
        spans: list[SpanDict | None] = []
        seen: set[tuple[Any, ...]] = set()
        written = [r for r in results if getattr(r, "id", None) is None]
        if policy is not None:
            refs = [r for r in results if getattr(r, "id", None) is not None]
            # Each candidate is a place in the text: the same value twice is two results
            # ("76.8% on Kinetics-600 and 76.8% on Kinetics-700"), but a title that repeats
            # an abstract's result is one.
            anchored = self._anchored(refs, models, benchmarks, policy)
            in_abstract = {
                (r.value, r.unit, r.delta) for r, span in anchored if span["field"] == "abstract"
            }
            for r, span in anchored:
                if span["field"] == "title" and (r.value, r.unit, r.delta) in in_abstract:
                    continue
                seen.add(_result_key(r))
                out.append(r)
                spans.append(span)
        for r in written:
            what = f"result {_num(r.value)}"
            hit = locate(r.evidence, self.evidence_order, fuzzy=True)
            update: dict[str, Any] = {}
            if hit is None:
                reason = "evidence " + self.why_missing(r.evidence, fuzzy=True)
                if not self.miss(what, reason):
                    continue
            else:
                quoted = self.text_of(hit)[hit.start : hit.end]
                if not value_in_text(r.value, quoted) and not self.miss(
                    what, "value not in its evidence"
                ):
                    continue
                if hit.match == "fuzzy":  # the text's wording, not the model's paraphrase
                    update["evidence"] = quoted
            for attr in ("benchmark", "model"):
                name = getattr(r, attr)
                found = self.find_name(name) if name is not None else None
                if (
                    found is not None
                    and (spelled := self.spelled(name, found, f"{what}: {attr}")) != name
                ):
                    update[attr] = spelled
                if name is not None and found is None:
                    if self.keep:
                        self.warnings.append(f"{what}: ungrounded {attr} {name!r} (kept)")
                    else:
                        self.warnings.append(
                            f"{what}: {attr} {name!r} not found in the text, set to null"
                        )
                        update[attr] = None
            unit = normalize_unit(r.unit) if r.unit is not None else None
            if unit != r.unit:
                update["unit"] = unit
            if update:
                r = r.model_copy(update=update)
            if not isinstance(r, Result):
                r = Result.model_construct(**{f: getattr(r, f) for f in Result.model_fields})
            # A looping answer repeats an item whole; the same value said of another
            # benchmark or model, or at another place, is another result.
            key = _result_key(r)
            if key in seen:
                continue
            seen.add(key)
            out.append(r)
            spans.append(hit.span() if hit else None)
        return out, spans

    def _anchored(
        self, refs: list[Any], models: list[Model], benchmarks: list[str], policy: LabelPolicy
    ) -> list[tuple[Result, SpanDict]]:
        facts = self.facts
        picked: dict[str, Any] = {}
        for r in refs:
            n = facts.number(r.id)
            if n is None:
                self.warnings.append(f"dropped result {r.id!r}: no such number in the list")
            else:
                picked.setdefault(n.id, r)
        texts = {"title": self.title.text, "abstract": self.abstract.text}
        rules = label_all(
            texts, facts.numbers, benchmarks, [m.name for m in models], _main_model(models, facts)
        )
        ruled = {n.id for n, lab in zip(facts.numbers, rules, strict=True) if lab.result}
        chosen = {
            "rule": ruled,
            "model": set(picked),
            "both": ruled & set(picked),
            "either": ruled | set(picked),
        }[policy.select]
        out: list[tuple[Result, SpanDict]] = []
        for n, rule in zip(facts.numbers, rules, strict=True):
            if n.id not in chosen:
                continue
            said = picked.get(n.id)
            what = f"result {_num(n.value)}"
            delta = said.delta if said is not None and policy.delta == "model" else rule.delta
            attrs: dict[str, str | None] = {}
            for attr in ("benchmark", "metric", "model"):
                from_model = getattr(said, attr) if said is not None else None
                if from_model is not None:
                    # a metric too: small models copy the instructions' examples into it
                    found = self.find_name(from_model)
                    if found is None:
                        self.warnings.append(
                            f"{what}: {attr} {from_model!r} not found in the text, set to null"
                        )
                        from_model = None
                    else:
                        from_model = self.spelled(from_model, found, f"{what}: {attr}")
                from_rule = getattr(rule, attr)
                first, second = (
                    (from_model, from_rule) if policy.attrs == "model" else (from_rule, from_model)
                )
                attrs[attr] = first if first is not None else second
            start, end = n.clause
            result = Result.model_construct(
                value=n.value,
                unit=n.unit,
                delta=delta,
                benchmark=attrs["benchmark"],
                metric=attrs["metric"],
                model=attrs["model"],
                evidence=texts[n.field][start:end],
            )
            out.append(
                (
                    result,
                    {"field": n.field, "start": start, "end": end, "match": "exact", "score": 1.0},
                )
            )
        return out

    def code_links(
        self, links: list[CodeLink], host_decides: bool = False
    ) -> tuple[list[CodeLink], list[SpanDict | None]]:
        in_text: dict[str, tuple[FieldName, int, int, str]] = {}
        hidden: set[str] = set()  # URLs that stand only inside instruction-like text
        for t in (self.abstract, self.title):
            for u in self.urls[t.field]:
                key = _link_key(u.url)
                if t.is_blocked(u.start, u.end):
                    hidden.add(key)
                else:
                    in_text.setdefault(key, (t.field, u.start, u.end, u.url))
        out: list[CodeLink] = []
        spans: list[SpanDict | None] = []
        used: set[str] = set()
        for link in links:
            key = _link_key(link.url)
            if key in used:
                continue
            found = in_text.get(key)
            if found is None:
                reason = (
                    "found only inside instruction-like text"
                    if key in hidden
                    else "not found in the text"
                )
                tail = " (URLs are never kept ungrounded)" if self.keep else ""
                self.warnings.append(f"dropped code link {link.url!r}: {reason}{tail}")
                continue
            f, start, end, url = found
            kind = link.kind if link.kind != "other" else infer_kind(url)
            # github.com/a/b is code, a.github.io a project page: a small model calls most
            # links "project_page". A repository the model says holds data stays data.
            by_host = infer_kind(url) if host_decides else "other"
            if by_host != "other" and not (by_host == "code" and link.kind == "data"):
                kind = by_host
            same = link.url == url and link.kind == kind
            out.append(link if same else CodeLink.model_construct(url=url, kind=kind))
            spans.append(_url_span(f, start, end))
            used.add(key)
        for key, (f, start, end, url) in in_text.items():
            if key in used or (kind := infer_kind(url)) == "other":
                continue
            used.add(key)
            out.append(CodeLink.model_construct(url=url, kind=kind))
            spans.append(_url_span(f, start, end))
        return out, spans


# A trailing generic word is not part of a benchmark's name ("MMEB benchmark" -> "MMEB").
_GENERIC_TAIL = re.compile(
    r"\s+(?:benchmarks?|datasets?|data\s+sets?|test\s+sets?|corpus|suite)$", re.IGNORECASE
)
# What a small model writes after a benchmark's name: the task it is used for
_TASK_TAIL = re.compile(r"\s+(?:(?:shared\s+)?task|challenge|translation|track)$")


_ACRONYM = re.compile(r"^(?P<full>.+?)\s*\(\s*(?P<short>[A-Za-z][\w+-]*[A-Z][\w+-]*)\s*\)$")
_GENERIC_HEADS = frozenset(
    {
        "model", "models", "approach", "method", "methods", "system", "framework", "network",
        "networks", "encoder", "decoder", "module", "loss", "objective", "mechanism",
        "architecture", "baseline", "baselines",
    }
)  # fmt: skip
_DETERMINERS = frozenset({"our", "the", "a", "an", "this", "their", "its"})


def _acronym_of(name: str) -> str | None:
    """ "Densely Interactive Inference Network (DIIN)" -> "DIIN"."""
    m = _ACRONYM.match(name.strip())
    return m.group("short") if m else None


def _generic_model(name: str) -> bool:
    """A description, not a name a table can hold (GUIDELINES: generic phrases are not
    models): "our model", "cross entropy loss", "attentional", "LSTM-based model"."""
    words = name.split()
    if not words or words[0].lower() in _DETERMINERS:
        return True
    if all(w.islower() for w in words):
        return len(words) > 1 or name.endswith(("al", "ive", "ous"))
    return words[-1].lower() in _GENERIC_HEADS and any(w.endswith("-based") for w in words)


def _name_without_tail(name: str) -> str:
    """ "1B Word dataset" is 1B Word, "MMEB Benchmark" MMEB, "WMT'14 English-German
    translation" WMT'14 English-German; "Stanford Question Answering Dataset" is a name whole
    (a capitalized tail after capitalized words is part of it)."""
    named = name
    while True:
        m = _GENERIC_TAIL.search(named) or _TASK_TAIL.search(named)
        if m is None:
            return named
        rest = named[: m.start()]
        tail_capitalized = m.group().strip()[:1].isupper()
        if tail_capitalized and len(rest.split()) > 1:
            return named
        named = rest


# What a named collection is called after its name: "Penn treebank", "Brown corpus"
_COLLECTION_WORDS = frozenset({"treebank", "corpus", "dataset", "benchmark", "challenge"})
_FUNCTION_WORDS = frozenset({"a", "an", "the", "of", "in", "on", "for", "and", "to", "with", "at"})
_COUNT_PHRASE = re.compile(r"^\d[\d,.]*\s+\w")
_CAPITALS_INSIDE = re.compile(r"\w[A-Z]|\d")


def _name_like(name: str) -> bool:
    """One word, or words of which one is made like a name ("VQA v2", "MSR-VTT", "nuScenes",
    a digit), or all capitalized ("Visual Genome"). "character permuted German-English" is a
    description and "21 benchmark datasets" a count."""
    if _COUNT_PHRASE.match(name):
        return False
    words = name.split()
    if len(words) <= 1:
        return True
    if all(
        w[:1].isupper() or w[:1].isdigit() or w in _FUNCTION_WORDS or w in _COLLECTION_WORDS
        for w in words[1:]
    ) and (words[0][:1].isupper() or words[0][:1].isdigit()):
        return True  # "Visual Genome", "Reading in the Wild", "Penn treebank"
    return any(_CAPITALS_INSIDE.search(w) and not _capitalized_compound(w) for w in words)


def _capitalized_compound(word: str) -> bool:
    # "German-English", "Vision-Language": capitalized words joined, not a made name
    parts = word.split("-")
    return len(parts) > 1 and all(p[:1].isupper() and p[1:].islower() for p in parts)


_BENCHMARK_WORD = re.compile(
    r"\b(?:benchmarks?|datasets?|corpus|corpora|suite|leaderboard|test\s+set)\b", re.IGNORECASE
)


def _called_a_benchmark(name: str, g: _Grounder) -> bool:
    """The text calls `name` a benchmark or dataset near one of its mentions (same sentence,
    a few words away): "CC-OCR: A Comprehensive ... OCR Benchmark", "the MMEB benchmark"."""
    for t in g.names:
        text = t.text
        for start, end in word_spans(text, name):
            before = text[max(0, start - 40) : start]
            after = text[end : end + 70]
            cut = re.split(r"[.;](?:\s|$)", after, maxsplit=1)[0]
            if _BENCHMARK_WORD.search(cut) or _BENCHMARK_WORD.search(before.split(". ")[-1]):
                return True
    return False


def _one_kind_per_name(
    models: list[Model],
    model_spans: list[SpanDict | None],
    benchmarks: list[str],
    benchmark_spans: list[SpanDict | None],
    g: _Grounder,
) -> tuple[list[Model], list[SpanDict | None], list[str], list[SpanDict | None]]:
    """A name listed as both a model and a benchmark is one of them (GUIDELINES.md: a
    benchmark or dataset is not a model): a benchmark where the text calls it one, else a
    model ("an architecture termed AdapNet++" is no benchmark)."""
    as_model = {merge_key(m.name): m.name for m in models}
    both = {k for k in (merge_key(b) for b in benchmarks) if k in as_model}
    if not both:
        return models, model_spans, benchmarks, benchmark_spans
    bench_keys = {k for k in both if _called_a_benchmark(as_model[k], g)}
    model_keys = both - bench_keys
    kept_models = [
        (m, s)
        for m, s in zip(models, model_spans, strict=True)
        if merge_key(m.name) not in bench_keys
    ]
    kept_benchmarks = [
        (b, s)
        for b, s in zip(benchmarks, benchmark_spans, strict=True)
        if merge_key(b) not in model_keys
    ]
    for k in sorted(bench_keys):
        g.warnings.append(f"dropped model {as_model[k]!r}: the text calls it a benchmark")
    for k in sorted(model_keys):
        g.warnings.append(
            f"dropped benchmark {as_model[k]!r}: listed as a model, not called a benchmark"
        )
    return (
        [m for m, _ in kept_models],
        [s for _, s in kept_models],
        [b for b, _ in kept_benchmarks],
        [s for _, s in kept_benchmarks],
    )


def _main_model(models: list[Model], facts: PaperFacts) -> str | None:
    """The model "our model" and "we" stand for: the paper's proposed model, the one its title
    names when it proposes several (its modules are proposed too), else the first listed."""
    proposed = [m.name for m in models if m.role == "proposed"]
    if len(proposed) <= 1:
        return proposed[0] if proposed else None
    in_title = [p for p in proposed if word_spans(facts.title.text, p)]
    return in_title[0] if in_title else proposed[0]


def _result_key(r: Result) -> tuple[Any, ...]:
    return (r.value, r.unit, r.delta, r.benchmark, r.metric, r.model, r.evidence)


def _link_key(url: str) -> str:
    # EVAL.md's URL identity, also blind to LaTeX escapes ("a\_b" in the text, "a_b" from a model).
    return url_key(url.replace("\\", ""))


def ground(
    extraction: Extraction,
    facts: PaperFacts | str,
    abstract: str | None = None,
    *,
    keep_ungrounded: bool = False,
    policy: LabelPolicy | None = None,
) -> Grounded:
    """The grounded, normalized form of `extraction` for a paper's facts (or its title and
    abstract). An `AnchoredExtraction` has its results chosen and labelled by `policy`
    (default: `LabelPolicy()`); a plain `Extraction` is grounded item by item."""
    if isinstance(facts, str):
        facts = analyze(facts, abstract or "")
    # An answer that writes every result out (value, evidence) is in the free form, whatever
    # schema was sent: it is grounded item by item, as free answers always were, with no
    # numbers added by the rules.
    written_out = bool(extraction.results) and all(
        getattr(r, "id", None) is None for r in extraction.results
    )
    anchored = isinstance(extraction, AnchoredExtraction) and not written_out
    policy = (policy or LabelPolicy()) if anchored else None
    g = _Grounder(facts, keep_ungrounded)
    roles_by_rule = policy is not None and policy.roles == "rule"
    models, model_spans = g.models(extraction.models, roles_by_rule)
    benchmarks, benchmark_spans = g.benchmarks(extraction.benchmarks)
    models, model_spans, benchmarks, benchmark_spans = _one_kind_per_name(
        models, model_spans, benchmarks, benchmark_spans, g
    )
    results, result_spans = g.results(extraction.results, models, benchmarks, policy)
    links, link_spans = g.code_links(
        extraction.code_links, host_decides=policy is not None and policy.kinds == "rule"
    )
    grounded = Extraction.model_construct(
        models=models,
        modalities=normalize_modalities(list(extraction.modalities)),
        tasks=normalize_tasks(extraction.tasks),
        benchmarks=benchmarks,
        results=results,
        code_links=links,
    )
    spans = {
        "models": model_spans,
        "benchmarks": benchmark_spans,
        "results": result_spans,
        "code_links": link_spans,
    }
    # a looping answer repeats its items: one warning each is enough
    return Grounded(grounded, spans, list(dict.fromkeys(g.warnings)))

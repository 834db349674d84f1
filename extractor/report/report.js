/* The review page. Record text is only ever written with text nodes (h() below), never as
   HTML, and only http(s) URLs become links: the records are untrusted model output. */
(function () {
  "use strict";

  var FIELD_NAMES = ["title", "abstract"];
  var KIND = {
    models: { cls: "hl-model", label: "Model" },
    benchmarks: { cls: "hl-benchmark", label: "Benchmark" },
    results: { cls: "hl-result", label: "Result" },
    links: { cls: "hl-link", label: "Code link" }
  };
  var BOARDS_PER_PAGE = 8;
  var ENTRIES_SHOWN = 15;

  // -- DOM helpers ----------------------------------------------------------------------

  /* h(tag, props, children): props are DOM properties (className, title, ...), "data-*" and
     "aria-*" attributes; children are nodes or strings, strings become text nodes. */
  function h(tag, props, children) {
    var node = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (key) {
        var value = props[key];
        if (value === null || value === undefined || value === false) return;
        if (key.indexOf("data-") === 0 || key.indexOf("aria-") === 0 || key === "role") {
          node.setAttribute(key, String(value));
        } else {
          node[key] = value;
        }
      });
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    if (children === null || children === undefined || children === false) return;
    if (!Array.isArray(children)) children = [children];
    children.forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      if (Array.isArray(child)) append(node, child);
      else node.appendChild(typeof child === "string" || typeof child === "number"
        ? document.createTextNode(String(child)) : child);
    });
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function $(id) { return document.getElementById(id); }

  function plural(n, word, many) { return n + " " + (n === 1 ? word : (many || word + "s")); }

  function formatNumber(v) {
    if (typeof v !== "number") return String(v);
    return Number.isInteger(v) ? String(v) : String(Math.round(v * 1e6) / 1e6);
  }

  function withUnit(value, unit) {
    if (!unit) return formatNumber(value);
    return formatNumber(value) + (unit === "%" ? "%" : " " + unit);
  }

  /* Only web URLs become links; "javascript:" and other schemes stay text. Bare hosts
     ("github.com/a/b") are common in abstracts and get https://. */
  function safeHref(url) {
    var u = String(url).trim();
    if (/^https?:\/\/[^\s]+$/i.test(u)) return u;
    if (/^(www\.)?[a-z0-9-]+(\.[a-z0-9-]+)+(\/[^\s]*)?$/i.test(u)) return "https://" + u;
    return null;
  }

  function externalLink(url, text) {
    var href = safeHref(url);
    if (!href) return h("span", { className: "url-text" }, text);
    return h("a", { href: href, rel: "noopener noreferrer", target: "_blank" }, text);
  }

  // -- data -----------------------------------------------------------------------------

  var data;
  try {
    data = JSON.parse($("report-data").textContent);
  } catch (err) {
    document.body.appendChild(h("p", { className: "fatal" }, "The report's data could not be read: " + err));
    return;
  }
  var papers = data.papers || [];
  var byId = {};
  papers.forEach(function (p, i) { if (!(p.id in byId)) byId[p.id] = i; });

  function ungrounded(p) {
    if (!p.hasSpans) return 0;
    var n = 0;
    Object.keys(KIND).forEach(function (k) {
      (p.spans[k] || []).forEach(function (s) { if (!s) n += 1; });
    });
    return n;
  }

  function itemCount(p) {
    return p.models.length + p.modalities.length + p.tasks.length + p.benchmarks.length +
      p.results.length + p.links.length;
  }

  function resultText(r) {
    return [withUnit(r.value, r.unit), r.metric, r.benchmark, r.model, r.evidence]
      .filter(Boolean).join(" ");
  }

  var HAYSTACK = {
    title: function (p) { return p.title; },
    abstract: function (p) { return p.abstract; },
    models: function (p) { return p.models.map(function (m) { return m.name + " " + (m.size || ""); }).join("\n"); },
    tasks: function (p) { return p.tasks.join("\n"); },
    benchmarks: function (p) { return p.benchmarks.concat(p.bk).join("\n"); },
    results: function (p) { return p.results.map(resultText).join("\n"); },
    links: function (p) { return p.links.map(function (l) { return l.url + " " + l.kind; }).join("\n"); },
    warnings: function (p) { return p.warnings.concat(p.error ? [p.error] : []).join("\n"); },
    id: function (p) { return p.id + " " + (p.source || ""); }
  };
  HAYSTACK.all = function (p) {
    return Object.keys(HAYSTACK).filter(function (k) { return k !== "all"; })
      .map(function (k) { return HAYSTACK[k](p); }).join("\n");
  };
  // Lower-cased search text per scope, built on first use: most scopes are never searched.
  var haystackCache = {};
  function haystack(scope, i) {
    var cache = haystackCache[scope] || (haystackCache[scope] = new Array(papers.length));
    if (cache[i] === undefined) cache[i] = HAYSTACK[scope](papers[i]).toLowerCase();
    return cache[i];
  }

  var HAS = {
    models: function (p) { return p.models.length > 0; },
    benchmarks: function (p) { return p.benchmarks.length > 0; },
    results: function (p) { return p.results.length > 0; },
    links: function (p) { return p.links.length > 0; },
    warnings: function (p) { return p.warnings.length > 0; },
    ungrounded: function (p) { return ungrounded(p) > 0; },
    error: function (p) { return !!p.error || !p.hasExtraction; },
    empty: function (p) { return p.hasExtraction && itemCount(p) === 0; }
  };

  // -- highlighting ---------------------------------------------------------------------

  function resultLabel(r) {
    var parts = [withUnit(r.value, r.unit)];
    if (r.delta) parts.push("(gain)");
    if (r.metric) parts.push(r.metric);
    if (r.benchmark) parts.push("on " + r.benchmark);
    if (r.model) parts.push("by " + r.model);
    return parts.join(" ");
  }

  function itemLabel(kind, item) {
    if (kind === "models") return "Model: " + item.name + (item.role ? " (" + item.role + ")" : "");
    if (kind === "benchmarks") return "Benchmark: " + item;
    if (kind === "results") return "Result: " + resultLabel(item);
    return "Code link: " + item.url + " (" + item.kind + ")";
  }

  function marksFor(p, field) {
    var marks = [];
    Object.keys(KIND).forEach(function (kind) {
      (p.spans[kind] || []).forEach(function (span, i) {
        if (span && span[0] === field) {
          marks.push({ start: span[1], end: span[2], kind: kind, ref: kind + ":" + i,
                       label: itemLabel(kind, p[kind][i]) });
        }
      });
    });
    return marks;
  }

  /* The text cut at every span boundary; each piece is wrapped in one <mark> carrying the
     classes of all spans covering it, so overlapping items (a benchmark inside a result's
     evidence) both stay visible. */
  function highlighted(text, marks) {
    if (!marks.length) return [text];
    var cuts = [0, text.length];
    marks.forEach(function (m) { cuts.push(m.start, m.end); });
    cuts = cuts.filter(function (c, i, all) { return all.indexOf(c) === i; })
      .sort(function (a, b) { return a - b; });
    var out = [];
    for (var i = 0; i < cuts.length - 1; i++) {
      var from = cuts[i], to = cuts[i + 1];
      var piece = text.slice(from, to);
      var covering = marks.filter(function (m) { return m.start <= from && m.end >= to; });
      if (!covering.length) { out.push(piece); continue; }
      out.push(h("mark", {
        className: "hl " + covering.map(function (m) { return KIND[m.kind].cls; }).join(" "),
        title: covering.map(function (m) { return m.label; }).join("\n"),
        "data-refs": covering.map(function (m) { return m.ref; }).join(" ")
      }, piece));
    }
    return out;
  }

  // -- paper cards ----------------------------------------------------------------------

  function notInText(p, kind, i) {
    if (!p.hasSpans || (p.spans[kind] || [])[i]) return null;
    return h("span", { className: "badge badge-warn", title: "No span: this item was not found in the title or abstract" }, "not in text");
  }

  function section(title, count, body) {
    return h("section", { className: "field" }, [
      h("h3", { className: "field-title" }, [title, count !== null ? h("span", { className: "count" }, String(count)) : null]),
      body
    ]);
  }

  function none() { return h("p", { className: "none" }, "none"); }

  function chips(values, cls) {
    if (!values.length) return none();
    return h("ul", { className: "chips" }, values.map(function (v) {
      return h("li", { className: "chip " + (cls || "") }, v);
    }));
  }

  function modelsSection(p) {
    var body = !p.models.length ? none() : h("ul", { className: "items" }, p.models.map(function (m, i) {
      return h("li", { className: "item", "data-ref": "models:" + i }, [
        h("span", { className: "swatch swatch-model", "aria-hidden": "true" }),
        h("span", { className: "item-name" }, m.name),
        m.role ? h("span", { className: "pill pill-" + m.role }, m.role) : null,
        m.size ? h("span", { className: "size", title: "Parameters" }, m.size) : null,
        notInText(p, "models", i)
      ]);
    }));
    return section("Models", p.models.length, body);
  }

  function benchmarksSection(p) {
    var body = !p.benchmarks.length ? none() : h("ul", { className: "chips" }, p.benchmarks.map(function (b, i) {
      return h("li", { className: "chip chip-benchmark", "data-ref": "benchmarks:" + i }, [b, notInText(p, "benchmarks", i)]);
    }));
    return section("Benchmarks", p.benchmarks.length, body);
  }

  function resultsSection(p) {
    if (!p.results.length) return section("Results", 0, none());
    var head = h("tr", null, ["Value", "Metric", "Benchmark", "Model"].map(function (t) { return h("th", { scope: "col" }, t); }));
    var rows = [];
    p.results.forEach(function (r, i) {
      var ref = "results:" + i;
      rows.push(h("tr", { className: "result-main", "data-ref": ref }, [
        h("td", { className: "num" }, [
          withUnit(r.value, r.unit),
          r.delta ? h("span", { className: "badge badge-delta", title: "A gain, gap or saving, not a level" }, "Δ") : null
        ]),
        h("td", null, r.metric || "—"),
        h("td", null, r.benchmark || "—"),
        h("td", null, r.model || "—")
      ]));
      rows.push(h("tr", { className: "result-evidence", "data-ref": ref }, [
        h("td", { colSpan: 4 }, [h("q", null, r.evidence || "(no evidence)"), notInText(p, "results", i)])
      ]));
    });
    return section("Results", p.results.length, h("table", { className: "results" }, [h("thead", null, head), h("tbody", null, rows)]));
  }

  function linksSection(p) {
    var body = !p.links.length ? none() : h("ul", { className: "items" }, p.links.map(function (l, i) {
      return h("li", { className: "item", "data-ref": "links:" + i }, [
        h("span", { className: "swatch swatch-link", "aria-hidden": "true" }),
        externalLink(l.url, l.url),
        h("span", { className: "pill" }, l.kind.replace("_", " ")),
        notInText(p, "links", i)
      ]);
    }));
    return section("Code links", p.links.length, body);
  }

  function problems(p) {
    var out = [];
    if (p.error || !p.hasExtraction) {
      out.push(h("div", { className: "callout callout-error" }, [
        h("strong", null, "Extraction failed"), " ", p.error || "This record has no extraction."
      ]));
    }
    if (p.warnings.length) {
      out.push(h("div", { className: "callout callout-warn" }, [
        h("strong", null, plural(p.warnings.length, "warning")),
        h("ul", null, p.warnings.map(function (w) { return h("li", null, w); }))
      ]));
    }
    return out;
  }

  function metaLine(p, index) {
    var bits = [h("span", { className: "meta-index" }, "#" + (index + 1))];
    if (p.id) bits.push(h("span", { className: "meta-id", title: "Record id" }, p.id));
    if (p.source) bits.push(h("span", { title: "Source" }, p.source));
    if (p.meta && p.meta.model) bits.push(h("span", { title: "Model that extracted it" }, String(p.meta.model)));
    if (p.meta && p.meta.cached === true) bits.push(h("span", null, "cached"));
    if (!p.hasSpans && p.hasExtraction) bits.push(h("span", { className: "badge" }, "no spans in record"));
    var missing = ungrounded(p);
    if (missing) bits.push(h("span", { className: "badge badge-warn" }, plural(missing, "item") + " not in text"));
    if (p.warnings.length) bits.push(h("span", { className: "badge badge-warn" }, plural(p.warnings.length, "warning")));
    if (p.error || !p.hasExtraction) bits.push(h("span", { className: "badge badge-error" }, "error"));
    return h("div", { className: "meta" }, bits);
  }

  function renderPaper(p, index) {
    var card = h("article", { className: "paper", "data-index": index }, [
      h("header", { className: "paper-head" }, [
        metaLine(p, index),
        h("h2", { className: "paper-title" }, highlighted(p.title || "(untitled)", p.title ? marksFor(p, 0) : []))
      ]),
      h("div", { className: "paper-body" }, [
        h("div", { className: "paper-text" }, [
          p.abstract ? h("p", { className: "abstract" }, highlighted(p.abstract, marksFor(p, 1)))
            : h("p", { className: "none" }, "No abstract in this record."),
          problems(p)
        ]),
        h("div", { className: "paper-fields" }, [
          modelsSection(p),
          h("div", { className: "field-row" }, [
            section("Modalities", null, chips(p.modalities, "chip-modality")),
            section("Tasks", null, chips(p.tasks))
          ]),
          benchmarksSection(p),
          resultsSection(p),
          linksSection(p)
        ])
      ])
    ]);
    return card;
  }

  // Hovering an extracted item lights up its place in the text, and the other way round.
  function setActive(card, ref, on) {
    var marks = card.querySelectorAll("mark.hl, [data-ref]");
    for (var i = 0; i < marks.length; i++) {
      var m = marks[i];
      var refs = (m.getAttribute("data-refs") || m.getAttribute("data-ref") || "").split(" ");
      if (refs.indexOf(ref) >= 0) m.classList.toggle("is-active", on);
    }
  }

  function hoverHandler(on) {
    return function (ev) {
      var target = ev.target.closest ? ev.target.closest("[data-ref], mark[data-refs]") : null;
      var card = target && target.closest(".paper");
      if (!card) return;
      var refs = (target.getAttribute("data-ref") || target.getAttribute("data-refs")).split(" ");
      refs.forEach(function (ref) { setActive(card, ref, on); });
    };
  }

  // -- paper list: filters and paging ---------------------------------------------------

  var state = { q: "", scope: "all", has: "", modality: "", benchmark: "", perPage: 25, page: 0, focus: null };
  var matches = [];

  function computeMatches() {
    var terms = state.q.toLowerCase().split(/\s+/).filter(Boolean);
    var has = HAS[state.has];
    matches = [];
    for (var i = 0; i < papers.length; i++) {
      var p = papers[i];
      if (state.focus !== null && p.id !== state.focus) continue;
      if (has && !has(p)) continue;
      if (state.modality && p.modalities.indexOf(state.modality) < 0) continue;
      if (state.benchmark && p.bk.indexOf(state.benchmark) < 0) continue;
      if (terms.length) {
        var text = haystack(state.scope, i), ok = true;
        for (var t = 0; t < terms.length && ok; t++) ok = text.indexOf(terms[t]) >= 0;
        if (!ok) continue;
      }
      matches.push(i);
    }
  }

  function pager(container, total, perPage, page, go, noun, isBottom) {
    clear(container);
    var pages = Math.max(1, Math.ceil(total / perPage));
    if (isBottom && pages === 1) return;
    var from = total ? page * perPage + 1 : 0, to = Math.min(total, (page + 1) * perPage);
    container.appendChild(h("span", { className: "pager-info" },
      total ? "Showing " + from + "–" + to + " of " + plural(total, noun) : "No " + noun + "s match"));
    if (pages > 1) {
      container.appendChild(h("span", { className: "pager-buttons" }, [
        h("button", { type: "button", className: "button-quiet", disabled: page === 0, onclick: function () { go(0); } }, "« First"),
        h("button", { type: "button", className: "button-quiet", disabled: page === 0, onclick: function () { go(page - 1); } }, "‹ Prev"),
        h("span", { className: "pager-page" }, "Page " + (page + 1) + " of " + pages),
        h("button", { type: "button", className: "button-quiet", disabled: page >= pages - 1, onclick: function () { go(page + 1); } }, "Next ›"),
        h("button", { type: "button", className: "button-quiet", disabled: page >= pages - 1, onclick: function () { go(pages - 1); } }, "Last »")
      ]));
    }
  }

  function renderPapers(scrollTop) {
    var list = $("paper-list");
    clear(list);
    var start = state.page * state.perPage;
    var slice = matches.slice(start, start + state.perPage);
    if (state.focus !== null) {
      list.appendChild(h("div", { className: "focus-note" }, [
        "Showing paper " + state.focus + ". ",
        h("button", { type: "button", className: "button-quiet", onclick: function () { setFocus(null); } }, "Show all papers")
      ]));
    }
    var frag = document.createDocumentFragment();
    slice.forEach(function (i) { frag.appendChild(renderPaper(papers[i], i)); });
    list.appendChild(frag);
    var go = function (page) { state.page = page; renderPapers(true); };
    pager($("pager-top"), matches.length, state.perPage, state.page, go, "paper");
    pager($("pager-bottom"), matches.length, state.perPage, state.page, go, "paper", true);
    if (scrollTop) $("view-papers").scrollIntoView();
  }

  function refresh() {
    state.page = 0;
    computeMatches();
    renderPapers(false);
  }

  function setFocus(id) {
    state.focus = id;
    if (id === null && location.hash) history.replaceState(null, "", location.pathname + location.search);
    showView("papers");
    refresh();
  }

  function fillSelect(select, options) {
    options.forEach(function (o) {
      select.appendChild(h("option", { value: o[0] }, o[0] + " (" + o[1] + ")"));
    });
  }

  // -- leaderboards ---------------------------------------------------------------------

  var boardState = { q: "", page: 0 };
  var boardMatches = [];

  function boardText(b) {
    if (b._text === undefined) {
      var parts = [b.benchmark].concat(b.aka || []);
      b.boards.forEach(function (c) {
        parts.push(c.metric || "", c.unit || "");
        parts = parts.concat(c.aka || []);
        c.entries.forEach(function (e) { parts.push(e[0]); });
      });
      (b.gains || []).forEach(function (g) { parts.push(g[0] || "", g[3] || ""); });
      b._text = parts.join("\n").toLowerCase();
    }
    return b._text;
  }

  function barWidth(value, board) {
    var values = board.entries.map(function (e) { return e[1]; });
    var best = board.lower ? Math.min.apply(null, values) : Math.max.apply(null, values);
    var ratio;
    if (board.lower) ratio = value <= 0 ? 1 : Math.max(best, 0) / value;
    else ratio = best <= 0 ? 0 : Math.max(value, 0) / best;
    return Math.max(2, Math.min(100, ratio * 100));
  }

  /* A link to the paper's card: the hash router (focusFromHash) shows it. The id is
     URI-encoded into a fragment, so no record text can make it another kind of URL. */
  function paperLink(id, text, cls) {
    return h("a", { className: cls, href: "#paper=" + encodeURIComponent(id), title: text || id }, text || id);
  }

  function akaNote(aka) {
    if (!aka || !aka.length) return null;
    return h("span", { className: "lb-aka", title: "Spellings merged under this name" }, "also written " + aka.join(", "));
  }

  function renderBoard(board) {
    var title = (board.metric || "value") + (board.unit ? " (" + board.unit + ")" : "");
    var list = h("ol", { className: "lb-rows" });
    var addRows = function (from, to) {
      board.entries.slice(from, to).forEach(function (e, k) {
        var bar = h("div", { className: "lb-bar" });
        bar.style.width = barWidth(e[1], board).toFixed(1) + "%";
        list.appendChild(h("li", { className: "lb-row" + (from + k === 0 ? " lb-best" : "") }, [
          h("span", { className: "lb-model", title: e[0] }, [e[0], e[5] === "proposed"
            ? h("span", { className: "badge", title: "The text names no model for this number; credited to the paper's only proposed model" }, "credited") : null]),
          h("span", { className: "lb-track" }, bar),
          paperLink(e[2], withUnit(e[1], board.unit), "lb-value"),
          paperLink(e[2], e[3], "lb-paper"),
          e[4] ? h("q", { className: "lb-evidence" }, e[4]) : null
        ]));
      });
    };
    addRows(0, ENTRIES_SHOWN);
    var more = null;
    if (board.entries.length > ENTRIES_SHOWN) {
      more = h("button", { type: "button", className: "button-quiet lb-more", onclick: function () {
        addRows(ENTRIES_SHOWN, board.entries.length);
        more.remove();
      } }, "Show all " + board.entries.length + " models");
    }
    return h("div", { className: "lb-board" }, [
      h("h4", { className: "lb-title" }, [
        h("span", null, [title, akaNote(board.aka)]),
        h("span", { className: "lb-dir" }, board.lower ? "lower is better" : "higher is better")
      ]),
      list, more
    ]);
  }

  function renderGains(gains) {
    if (!gains || !gains.length) return null;
    return h("details", { className: "lb-gains" }, [
      h("summary", null, plural(gains.length, "gain") + " over a baseline (not levels: not ranked)"),
      h("ul", { className: "lb-gain-list" }, gains.map(function (g) {
        return h("li", { className: "lb-gain" }, [
          paperLink(g[4], "+" + withUnit(g[1], g[2]), "lb-value"),
          " ", g[3] || "", " ", g[0] ? h("strong", null, g[0]) : h("span", { className: "none" }, "(no model)"),
          " — ", paperLink(g[4], g[5], "lb-paper"),
          g[6] ? h("q", { className: "lb-evidence" }, g[6]) : null
        ]);
      }))
    ]);
  }

  function renderBoards() {
    var q = boardState.q.toLowerCase().trim();
    boardMatches = (data.boards || []).filter(function (b) { return !q || boardText(b).indexOf(q) >= 0; });
    var list = $("board-list");
    clear(list);
    var start = boardState.page * BOARDS_PER_PAGE;
    boardMatches.slice(start, start + BOARDS_PER_PAGE).forEach(function (b) {
      var n = b.boards.reduce(function (s, c) { return s + c.entries.length; }, 0);
      list.appendChild(h("article", { className: "lb-card" }, [
        h("header", { className: "lb-head" }, [
          h("h3", null, [b.benchmark, akaNote(b.aka)]),
          h("span", { className: "count" }, n || !(b.gains || []).length
            ? plural(n, "entry", "entries") : plural(b.gains.length, "gain"))
        ]),
        b.boards.map(renderBoard),
        renderGains(b.gains)
      ]));
    });
    if (!boardMatches.length) {
      list.appendChild(h("p", { className: "none" }, (data.boards || []).length
        ? "No benchmark matches the filter."
        : "No results tied to a benchmark in these records."));
    }
    var go = function (page) { boardState.page = page; renderBoards(); $("view-leaderboards").scrollIntoView(); };
    pager($("board-pager-top"), boardMatches.length, BOARDS_PER_PAGE, boardState.page, go, "benchmark");
    pager($("board-pager-bottom"), boardMatches.length, BOARDS_PER_PAGE, boardState.page, go, "benchmark", true);
  }

  function renderMerges() {
    var merges = data.merges || [];
    var box = $("merge-list");
    if (!merges.length) box.appendChild(h("p", { className: "none" }, "No spellings were merged."));
    else box.appendChild(h("table", { className: "merge-table" }, [
      h("thead", null, h("tr", null, ["Kind", "Shown as", "Spellings (count)"].map(function (t) { return h("th", { scope: "col" }, t); }))),
      h("tbody", null, merges.map(function (m) {
        return h("tr", null, [h("td", null, m.kind), h("td", null, m.canonical),
          h("td", null, m.variants.map(function (v) { return v[0] + " (" + v[1] + ")"; }).join(", "))]);
      }))
    ]));
    var fixes = data.kindFixes || [];
    if (fixes.length) {
      box.appendChild(h("p", { className: "hint" }, plural(fixes.length, "name") +
        " cleared from a result because a paper lists it as the other kind (a model given as the benchmark, or a benchmark as the model):"));
      box.appendChild(h("ul", { className: "kind-fixes" }, fixes.map(function (f) {
        var other = f[1] === "benchmark" ? "model" : "benchmark";
        return h("li", null, [f[1] + " ", h("strong", null, f[2]), " is listed as a " + other +
          (f[3] === "paper" ? " by its own paper " : " by another paper "), paperLink(f[0], f[0], "lb-paper")]);
      })));
    }
  }

  // -- views and wiring -----------------------------------------------------------------

  function showView(name) {
    ["papers", "leaderboards"].forEach(function (v) {
      $("view-" + v).hidden = v !== name;
      $("tab-" + v).setAttribute("aria-selected", String(v === name));
    });
  }

  function renderStats() {
    var results = 0, warned = 0, errors = 0;
    papers.forEach(function (p) {
      results += p.results.length;
      if (p.warnings.length) warned += 1;
      if (p.error || !p.hasExtraction) errors += 1;
    });
    var stats = [plural(papers.length, "paper"), plural(results, "result"),
      plural((data.boards || []).filter(function (b) { return b.boards.length; }).length, "benchmark") + " with levels",
      plural(warned, "paper") + " with warnings"];
    if (errors) stats.push(plural(errors, "error"));
    append($("stats"), stats.map(function (s) { return h("span", null, s); }));
    $("tab-papers").appendChild(h("span", { className: "count" }, String(papers.length)));
    $("tab-leaderboards").appendChild(h("span", { className: "count" }, String((data.boards || []).length)));
  }

  function debounce(fn, ms) {
    var timer = null;
    return function () { clearTimeout(timer); timer = setTimeout(fn, ms); };
  }

  function focusFromHash() {
    var m = /^#paper=(.+)$/.exec(location.hash);
    if (!m) return;
    var id = m[1];
    try { id = decodeURIComponent(id); } catch (err) { /* a raw id is still worth a try */ }
    setFocus(id);
  }

  function init() {
    renderStats();
    fillSelect($("modality"), data.modalities || []);
    fillSelect($("benchmark"), data.benchmarks || []);

    var onSearch = debounce(function () { state.q = $("q").value; refresh(); }, 150);
    $("q").addEventListener("input", onSearch);
    ["scope", "has", "modality", "benchmark"].forEach(function (id) {
      $(id).addEventListener("change", function () { state[id] = $(id).value; refresh(); });
    });
    $("per-page").addEventListener("change", function () { state.perPage = Number($("per-page").value); refresh(); });
    $("paper-filters").addEventListener("submit", function (ev) { ev.preventDefault(); });
    $("paper-filters").addEventListener("reset", function () {
      setTimeout(function () {
        state.q = ""; state.scope = "all"; state.has = ""; state.modality = ""; state.benchmark = "";
        state.perPage = Number($("per-page").value);
        setFocus(null);
      }, 0);
    });
    $("board-q").addEventListener("input", debounce(function () {
      boardState.q = $("board-q").value; boardState.page = 0; renderBoards();
    }, 150));
    $("board-filters").addEventListener("submit", function (ev) { ev.preventDefault(); });
    document.querySelectorAll(".tab").forEach(function (tab) {
      tab.addEventListener("click", function () { showView(tab.getAttribute("data-view")); });
    });
    var list = $("paper-list");
    list.addEventListener("mouseover", hoverHandler(true));
    list.addEventListener("mouseout", hoverHandler(false));
    window.addEventListener("hashchange", focusFromHash);

    refresh();
    renderBoards();
    renderMerges();
    focusFromHash();
    // For tests and bench/report_bench.py: the page is usable, and how long that took.
    document.documentElement.setAttribute("data-ready-ms", String(Math.round(performance.now())));
    document.documentElement.setAttribute("data-ready", "1");
  }

  init();
})();

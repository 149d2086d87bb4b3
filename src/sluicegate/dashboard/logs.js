// The logs page: the newest requests of every gateway (or one), refreshed every few seconds, and
// one request in detail. Markers say which cache answered (exact or semantic), when token counts
// are estimates, when a record is incomplete, what the guardrails found, and the feedback given.

import { clear, count, h, ms, statusClass, time, usd } from "./dom.js";

const REFRESH_MS = 3000;
const PAGE = 50;
const DEFAULT_RANGE = "24h";
const RANGES = [
  { id: "1h", label: "Last hour", seconds: 3600 },
  { id: "6h", label: "Last 6 hours", seconds: 6 * 3600 },
  { id: "24h", label: "Last 24 hours", seconds: 86400 },
  { id: "7d", label: "Last 7 days", seconds: 7 * 86400 },
  { id: "30d", label: "Last 30 days", seconds: 30 * 86400 },
  { id: "all", label: "All time" },
];
const COLUMNS = ["Time", "Gateway", "Status", "Provider", "Model", "Endpoint", "Latency", "Tokens", "Cost", "Feedback", "Cache"];
const FEEDBACK = { 1: ["👍", "positive", "thumbs up"], 0: ["neutral", "neutral", "neutral (not evaluated)"], "-1": ["👎", "negative", "thumbs down"] };

export function logsPage(context, main) {
  const { api } = context;
  const state = { range: DEFAULT_RANGE, gateway: "", status: "", provider: "", model: "", cached: "", feedback: "", live: true, selected: null };
  const seen = new Set();
  let older = null; // cursor of the next, older page
  let extra = []; // rows of older pages the person loaded
  let fitted = false; // the range was checked against the data once (see fitRange)

  const bar = h("div", { class: "toolbar" });
  const note = h("p", { class: "callout info range-note", role: "status", hidden: true });
  const table = h("tbody");
  const more = h("button", { class: "secondary", hidden: true, onclick: loadOlder }, "Load older");
  const detail = h("aside", { class: "detail card", hidden: true });
  const empty = h("p", { class: "muted empty", hidden: true }, "No requests match these filters yet.");
  const live = h("span", { class: "live-dot", title: "refreshing every 3 s" });
  clear(
    main,
    h("header", { class: "page-head" }, h("h1", {}, "Logs"), h("span", { class: "muted small" }, live, " live")),
    bar,
    note,
    h(
      "div",
      { class: "logs-layout" },
      h(
        "div",
        { class: "card table-card" },
        h("table", { class: "logs" }, h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", {}, c)))), table),
        empty,
        h("div", { class: "table-foot" }, more),
      ),
      detail,
    ),
  );

  function drawBar(gateways) {
    const field = (label, control) => h("label", { class: "field" }, h("span", {}, label), control);
    const change = (name) => (event) => {
      state[name] = event.target.type === "checkbox" ? event.target.checked : event.target.value.trim();
      live.classList.toggle("off", !state.live);
      if (name !== "live") note.hidden = true;
      refresh(true);
    };
    const options = (name, pairs) =>
      h("select", { name, onchange: change(name) }, pairs.map(([value, label]) => h("option", { value, selected: state[name] === value }, label)));
    clear(
      bar,
      h(
        "div",
        { class: "filters" },
        field("Time range", options("range", RANGES.map((r) => [r.id, r.label]))),
        field("Gateway", options("gateway", [["", "All gateways"], ...gateways.map((g) => [g, g])])),
        field("Status", options("status", [["", "Any"], ["2xx", "2xx"], ["4xx", "4xx"], ["5xx", "5xx"], ["429", "429"]])),
        field("Provider", h("input", { name: "provider", placeholder: "any", list: "seen-providers", onchange: change("provider") })),
        field("Model", h("input", { name: "model", placeholder: "any", list: "seen-models", onchange: change("model") })),
        field("Cached", options("cached", [["", "Any"], ["true", "Cache hits"], ["false", "Not cached"]])),
        field("Feedback", options("feedback", [["", "Any"], ["1", "👍 1"], ["0", "neutral 0"], ["-1", "👎 -1"]])),
        h("label", { class: "field check" }, h("input", { type: "checkbox", name: "live", checked: state.live, onchange: change("live") }), h("span", {}, "Auto-refresh")),
        h("datalist", { id: "seen-providers" }),
        h("datalist", { id: "seen-models" }),
      ),
    );
  }

  function params(cursor) {
    const { gateway, status, provider, model, cached, feedback } = state;
    const range = RANGES.find((r) => r.id === state.range);
    const from = range.seconds ? (Date.now() / 1000 - range.seconds).toFixed(3) : null;
    return { from, gateway, status, provider, model, cached, feedback, cursor, limit: PAGE };
  }

  // One refresh at a time: a slow answer (a large log) must not pile up calls every REFRESH_MS.
  // One asked for meanwhile (a filter changed) runs once the one under way has ended.
  let inFlight = null;
  let again = null; // null, or whether the refresh asked for meanwhile resets the table
  function refresh(reset = false) {
    if (inFlight) {
      again = again || reset;
      return inFlight;
    }
    inFlight = load(reset).finally(() => {
      inFlight = null;
      if (again !== null) {
        const next = again;
        again = null;
        refresh(next);
      }
    });
    return inFlight;
  }

  async function load(reset) {
    if (!bar.firstChild) return; // the filter bar (drawn once the gateways are known) comes first
    if (reset) {
      extra = [];
      seen.clear();
    }
    let page;
    try {
      page = await api.logs(params());
      if (!fitted) page = await fitRange(page);
    } catch (error) {
      clear(table, h("tr", {}, h("td", { colspan: COLUMNS.length, class: "error" }, `Could not load logs: ${error.message}`)));
      return;
    }
    if (!extra.length) older = page.next_cursor;
    draw([...page.result, ...extra.filter((r) => !page.result.some((p) => p.id === r.id))], !reset && seen.size > 0);
  }

  // A new install's requests are often older than the default range (tried yesterday, looked at
  // today): when that range is empty but older records exist, show all time and say why.
  async function fitRange(page) {
    fitted = true;
    if (page.result.length || state.range !== DEFAULT_RANGE) return page;
    const newest = await api.logs({ limit: 1 });
    if (!newest.result.length) return page;
    state.range = "all";
    bar.querySelector("select[name=range]").value = "all";
    const label = RANGES.find((r) => r.id === DEFAULT_RANGE).label.toLowerCase();
    note.hidden = false;
    note.textContent = `No requests in the ${label}: showing all time (the newest is from ${time(newest.result[0].ts)}).`;
    return api.logs(params());
  }

  async function loadOlder() {
    if (!older) return;
    const page = await api.logs(params(older));
    extra = [...extra, ...page.result];
    older = page.next_cursor;
    refresh();
  }

  function draw(records, markNew) {
    clear(
      table,
      records.map((r) => {
        const fresh = markNew && !seen.has(r.id);
        seen.add(r.id);
        return h(
          "tr",
          {
            class: [fresh ? "new" : "", r.id === state.selected ? "selected" : ""].join(" ").trim() || null,
            dataset: { id: r.id, gateway: r.gateway },
            tabindex: 0,
            onclick: () => open(r),
            onkeydown: (event) => event.key === "Enter" && open(r),
          },
          h("td", { class: "nowrap" }, time(r.ts)),
          h("td", { class: "mono" }, r.gateway),
          h(
            "td",
            { class: "nowrap" },
            h("span", { class: statusClass(r.status) }, r.status),
            r.degraded ? h("span", { class: "tag degraded", title: `Incomplete record: ${r.degraded}` }, "incomplete") : null,
            guardrailTag(r),
          ),
          h("td", {}, r.provider),
          h("td", { class: "model" }, r.model || "–"),
          h("td", { class: "endpoint" }, `${r.method} ${r.endpoint}`),
          h("td", { class: "num" }, ms(r.latency_ms)),
          h("td", { class: "num" }, tokens(r)),
          h("td", { class: "num" }, usd(r.cost_usd)),
          h("td", { class: "nowrap feedback" }, feedbackTags(r)),
          h("td", { class: "nowrap" }, r.cache_status ? cacheTag(r) : ""),
        );
      }),
    );
    empty.hidden = records.length > 0;
    more.hidden = !older;
    fill("seen-providers", records.map((r) => r.provider));
    fill("seen-models", records.map((r) => r.model).filter(Boolean));
  }

  function fill(id, values) {
    const list = document.getElementById(id);
    if (list) clear(list, [...new Set(values)].sort().map((v) => h("option", { value: v })));
  }

  async function open(record) {
    state.selected = record.id;
    for (const row of table.querySelectorAll("tr")) row.classList.toggle("selected", row.dataset.id === record.id);
    detail.hidden = false;
    clear(detail, h("p", { class: "muted" }, "Loading…"));
    try {
      showDetail(await api.log(record.gateway, record.id));
    } catch (error) {
      clear(detail, h("p", { class: "error" }, `Could not load the request: ${error.message}`));
    }
  }

  function showDetail(r) {
    const close = h("button", { class: "icon", title: "Close", onclick: () => ((detail.hidden = true), (state.selected = null)) }, "×");
    clear(
      detail,
      h("div", { class: "detail-head" }, h("h2", {}, h("span", { class: statusClass(r.status) }, r.status), ` ${r.method} ${r.endpoint}`), close),
      h("p", { class: "muted small mono" }, r.id),
      r.error ? h("div", { class: "callout error" }, r.error) : null,
      r.degraded ? h("div", { class: "callout warning" }, `Incomplete record: ${r.degraded}`) : null,
      section("Request", facts([
        ["Time", time(r.ts)], ["Gateway", r.gateway], ["Provider", r.provider], ["Model", r.model || "–"],
        ["Stream", r.stream ? "yes" : "no"], ["Universal step", r.step ?? "–"],
      ])),
      section("Timings", facts([
        ["Latency", ms(r.latency_ms)], ["Time to first byte", ms(r.ttfb_ms)], ["Cache", r.cache_status ? cacheLabel(r) : "not cacheable"],
        ["Time saved", r.cache_saved_ms ? ms(r.cache_saved_ms) : "–"], ["Rate-limited", r.rate_limited ? "yes" : "no"],
      ])),
      section("Usage", facts([
        ["Tokens in", count(r.tokens_in)], ["Tokens out", count(r.tokens_out)], ["Cached tokens", count(r.cached_tokens)],
        ["Cache-write tokens", count(r.cache_write_tokens)], ["Reasoning tokens", count(r.reasoning_tokens)], ["Estimated usage", r.usage_estimated ? "yes (tokenizer)" : "no"], ["Cost", usd(r.cost_usd)],
      ])),
      findings(r).length ? section("Guardrails", h("ul", { class: "findings" }, findings(r).map((f) => h("li", { class: "mono" }, f)))) : null,
      r.feedback != null || r.score != null
        ? section("Feedback", facts([["Feedback", r.feedback != null ? FEEDBACK[r.feedback][2] : "–"], ["Score", r.score ?? "–"]]))
        : null,
      r.attempts && r.attempts.length ? section("Attempts", attempts(r.attempts)) : null,
      Object.keys(r.metadata || {}).length ? section("Metadata", body(JSON.stringify(r.metadata, null, 2))) : null,
      section("Request headers", facts(Object.entries(r.request_headers || {}), "headers")),
      section("Request body", body(r.request_body, r.request_body_complete, r.request_body_size)),
      section("Response body", body(r.response_body, r.response_body_complete, r.response_body_size)),
    );
  }

  api.gateways().then(
    (gateways) => {
      drawBar(gateways.map((g) => g.slug));
      refresh(true);
    },
    (error) => clear(table, h("tr", {}, h("td", { colspan: COLUMNS.length, class: "error" }, `Could not load the gateways: ${error.message}`))),
  );
  const timer = setInterval(() => state.live && !document.hidden && !inFlight && refresh(), REFRESH_MS);
  return () => clearInterval(timer);
}

function section(title, content) {
  return h("section", { class: "detail-section" }, h("h3", {}, title), content);
}

function facts(pairs, kind = "") {
  if (!pairs.length) return h("p", { class: "muted small" }, "none");
  return h("dl", { class: `facts ${kind}` }, pairs.map(([name, value]) => [h("dt", {}, name), h("dd", {}, String(value))]));
}

function attempts(list) {
  const columns = ["step", "provider", "status", "latency_ms", "error"];
  return h(
    "table",
    { class: "attempts" },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c.replace("_ms", ""))))),
    h("tbody", {}, list.map((a) => h("tr", {}, columns.map((c) => h("td", {}, c === "latency_ms" ? ms(a[c]) : a[c] ?? "–"))))),
  );
}

// A body as sent: pretty-printed when it is JSON, as is otherwise (SSE, text, base64:…).
// A stored body, formatted when it is JSON; one cut to logs.body_limit says so, with its sizes.
function body(text, complete, size) {
  if (text === null || text === undefined) return h("p", { class: "muted small" }, "not stored");
  let shown = text;
  try {
    shown = JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    // not JSON (or JSON cut short): shown as stored
  }
  const cut =
    complete === false
      ? h("div", { class: "callout warning body-cut" }, `Cut short: only its start is stored (logs.body_limit); the whole body was ${bytes(size)}.`)
      : null;
  return [cut, h("pre", { class: "body" }, shown)];
}

function bytes(n) {
  return `${Number(n).toLocaleString("en-US")} bytes`;
}

// "HIT", "MISS semantic": which cache the status is about, when it is the semantic one.
function cacheLabel(r) {
  return r.cache_source === "semantic" ? `${r.cache_status} semantic` : r.cache_status;
}

// The cache outcome, and a mark when the semantic cache answered (a similar earlier question's answer).
function cacheTag(r) {
  const outcome = h("span", { class: `tag ${r.cache_status.toLowerCase()}`, title: r.cache_source ? `${r.cache_source} cache` : null }, r.cache_status);
  if (r.cache_source !== "semantic" || r.cache_status !== "HIT") return outcome;
  return [outcome, h("span", { class: "tag semantic", title: "answered by the semantic cache: a similar earlier question's answer" }, "semantic")];
}

// In / out, with a mark when they were counted with a tokenizer (the provider reported none).
function tokens(r) {
  if (r.tokens_in === null) return "–";
  const figures = `${count(r.tokens_in)} / ${count(r.tokens_out)}`;
  if (!r.usage_estimated) return figures;
  return [h("span", { class: "tag estimated", title: "estimated with a tokenizer: the provider reported no usage" }, "est."), figures];
}

// What the guardrails found (`metadata.guardrails`: "request:redact:email, response:flag:phone").
function findings(r) {
  const value = (r.metadata || {}).guardrails;
  if (Array.isArray(value)) return value.map(String);
  return typeof value === "string" ? value.split(",").map((f) => f.trim()).filter(Boolean) : [];
}

function guardrailTag(r) {
  const found = findings(r);
  if (!found.length) return null;
  const blocked = found.some((f) => f.split(":")[1] === "block");
  return h("span", { class: `tag guardrail${blocked ? " blocked" : ""}`, title: `Guardrails: ${found.join(", ")}` }, "guardrail");
}

// The feedback given (👍 / neutral / 👎) and the score, when the record has them.
function feedbackTags(r) {
  const given = r.feedback != null && FEEDBACK[r.feedback];
  return [
    given ? h("span", { class: `tag ${given[1]}`, title: `feedback: ${given[2]}` }, given[0]) : null,
    r.score != null ? h("span", { class: "tag score", title: "score (0-100)" }, String(r.score)) : null,
  ];
}

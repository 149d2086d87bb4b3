// The logs page: a gateway's newest requests, refreshed every few seconds, and one request in detail.

import { clear, count, h, ms, statusClass, time, usd } from "./dom.js";

const REFRESH_MS = 3000;
const PAGE = 50;

export function logsPage(context, main) {
  const { api } = context;
  const state = { gateway: "", status: "", provider: "", model: "", cached: "", live: true, selected: null };
  const seen = new Set();
  let older = null; // cursor of the next, older page
  let extra = []; // rows of older pages the person loaded

  const bar = h("div", { class: "toolbar" });
  const table = h("tbody");
  const more = h("button", { class: "secondary", hidden: true, onclick: loadOlder }, "Load older");
  const detail = h("aside", { class: "detail card", hidden: true });
  const empty = h("p", { class: "muted empty", hidden: true }, "No requests match these filters yet.");
  const live = h("span", { class: "live-dot", title: "refreshing every 3 s" });
  clear(
    main,
    h("header", { class: "page-head" }, h("h1", {}, "Logs"), h("span", { class: "muted small" }, live, " live")),
    bar,
    h(
      "div",
      { class: "logs-layout" },
      h(
        "div",
        { class: "card table-card" },
        h(
          "table",
          { class: "logs" },
          h("thead", {}, h("tr", {}, ["Time", "Status", "Provider", "Model", "Endpoint", "Latency", "Tokens", "Cost", "Cache"].map((c) => h("th", {}, c)))),
          table,
        ),
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
      refresh(true);
    };
    const options = (name, pairs) =>
      h("select", { name, onchange: change(name) }, pairs.map(([value, label]) => h("option", { value, selected: state[name] === value }, label)));
    clear(
      bar,
      h(
        "div",
        { class: "filters" },
        field("Gateway", options("gateway", gateways.map((g) => [g, g]))),
        field("Status", options("status", [["", "Any"], ["2xx", "2xx"], ["4xx", "4xx"], ["5xx", "5xx"], ["429", "429"]])),
        field("Provider", h("input", { name: "provider", placeholder: "any", list: "seen-providers", onchange: change("provider") })),
        field("Model", h("input", { name: "model", placeholder: "any", list: "seen-models", onchange: change("model") })),
        field("Cached", options("cached", [["", "Any"], ["true", "Cache hits"], ["false", "Not cached"]])),
        h("label", { class: "field check" }, h("input", { type: "checkbox", name: "live", checked: state.live, onchange: change("live") }), h("span", {}, "Auto-refresh")),
        h("datalist", { id: "seen-providers" }),
        h("datalist", { id: "seen-models" }),
      ),
    );
  }

  function params(cursor) {
    const { status, provider, model, cached } = state;
    return { status, provider, model, cached, cursor, limit: PAGE };
  }

  async function refresh(reset = false) {
    if (!state.gateway) return;
    if (reset) {
      extra = [];
      seen.clear();
    }
    let page;
    try {
      page = await api.logs(state.gateway, params());
    } catch (error) {
      clear(table, h("tr", {}, h("td", { colspan: 9, class: "error" }, `Could not load logs: ${error.message}`)));
      return;
    }
    if (!extra.length) older = page.next_cursor;
    draw([...page.result, ...extra.filter((r) => !page.result.some((p) => p.id === r.id))], !reset && seen.size > 0);
  }

  async function loadOlder() {
    if (!older) return;
    const page = await api.logs(state.gateway, params(older));
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
            dataset: { id: r.id },
            tabindex: 0,
            onclick: () => open(r.id),
            onkeydown: (event) => event.key === "Enter" && open(r.id),
          },
          h("td", { class: "nowrap" }, time(r.ts)),
          h("td", {}, h("span", { class: statusClass(r.status) }, r.status)),
          h("td", {}, r.provider),
          h("td", { class: "model" }, r.model || "–"),
          h("td", { class: "endpoint" }, `${r.method} ${r.endpoint}`),
          h("td", { class: "num" }, ms(r.latency_ms)),
          h("td", { class: "num" }, r.tokens_in === null ? "–" : `${count(r.tokens_in)} / ${count(r.tokens_out)}`),
          h("td", { class: "num" }, usd(r.cost_usd)),
          h("td", {}, r.cache_status ? h("span", { class: `tag ${r.cache_status.toLowerCase()}` }, cacheLabel(r)) : ""),
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

  async function open(id) {
    state.selected = id;
    for (const row of table.querySelectorAll("tr")) row.classList.toggle("selected", row.dataset.id === id);
    detail.hidden = false;
    clear(detail, h("p", { class: "muted" }, "Loading…"));
    try {
      showDetail(await api.log(state.gateway, id));
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
      r.attempts && r.attempts.length ? section("Attempts", attempts(r.attempts)) : null,
      Object.keys(r.metadata || {}).length ? section("Metadata", body(JSON.stringify(r.metadata, null, 2))) : null,
      section("Request headers", facts(Object.entries(r.request_headers || {}), "headers")),
      section("Request body", body(r.request_body)),
      section("Response body", body(r.response_body)),
    );
  }

  api.gateways().then((gateways) => {
    const slugs = gateways.map((g) => g.slug);
    state.gateway = slugs.includes("default") ? "default" : slugs[0] || "";
    drawBar(slugs);
    if (!state.gateway) clear(table, h("tr", {}, h("td", { colspan: 9, class: "muted" }, "No gateways yet.")));
    refresh(true);
  });
  const timer = setInterval(() => state.live && !document.hidden && refresh(), REFRESH_MS);
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
function body(text) {
  if (text === null || text === undefined) return h("p", { class: "muted small" }, "not stored");
  let shown = text;
  try {
    shown = JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    // not JSON: shown as stored
  }
  return h("pre", { class: "body" }, shown);
}

// "HIT", "MISS semantic": which cache the status is about, when it is the semantic one.
function cacheLabel(r) {
  return r.cache_source === "semantic" ? `${r.cache_status} semantic` : r.cache_status;
}

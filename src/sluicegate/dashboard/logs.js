// The logs page: the newest requests of every gateway (or one), refreshed every few seconds, and
// one request in detail (logs-detail.js). Markers say which cache answered (exact or semantic),
// which records are shadow checks, when token counts are estimates, when a record is incomplete,
// what the guardrails found, and the feedback given.
//
// A refresh updates the table in place (a row keeps its element, and the keyboard focus), and
// once older pages were loaded it fetches down to the rows shown, so no record leaves the table.

import { clear, count, h, keepingFocus, ms, statusClass, time, usd, whileBusy } from "./dom.js";
import { newestOnly } from "./loads.js";
import { detailPanel, FEEDBACK, findings } from "./logs-detail.js";

const REFRESH_MS = 3000;
const PAGE = 50;
const CATCH_UP_PAGE = 1000; // the API's largest page: reaching the rows shown after older pages were loaded
const CATCH_UP_CALLS = 5;
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

export function logsPage(context, main) {
  const { api } = context;
  const state = { range: DEFAULT_RANGE, gateway: "", status: "", provider: "", model: "", cached: "", feedback: "", live: true };
  const seen = new Set(); // ids drawn since the filters changed: a row new to them is marked
  let rows = []; // the records shown, newest first
  let older = null; // cursor of the next, older page
  let extended = false; // older pages were loaded: a refresh keeps them, joined without a gap
  let generation = 0; // bumped when the filters change: what loads of earlier filters bring is dropped
  let fitted = false; // the range was checked against the data once (see fitRange)
  let listing = null; // the gateways' listing under way
  const loads = newestOnly();

  const bar = h("div", { class: "toolbar" });
  const note = h("p", { class: "callout info range-note", role: "status", hidden: true });
  const table = h("tbody");
  const more = h("button", { class: "secondary", hidden: true, onclick: () => loadOlder() }, "Load older");
  const empty = h("p", { class: "muted empty", hidden: true }, "No requests match these filters yet.");
  const live = h("span", { class: "live-dot", title: "refreshing every 3 s" });
  const detail = detailPanel(api, (id, hadFocus) => {
    const row = rowOf(id);
    if (row) row.classList.remove("selected");
    if (row && hadFocus) row.focus({ preventScroll: true }); // back to the row the detail came from
  });
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
      detail.element,
    ),
  );

  function drawBar(gateways) {
    const field = (label, control) => h("label", { class: "field" }, h("span", {}, label), control);
    const change = (name) => (event) => {
      state[name] = event.target.type === "checkbox" ? event.target.checked : event.target.value.trim();
      live.classList.toggle("off", !state.live);
      if (name === "live") return;
      note.hidden = true;
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

  function params(cursor = null, limit = PAGE) {
    const { gateway, status, provider, model, cached, feedback } = state;
    const range = RANGES.find((r) => r.id === state.range);
    const from = range.seconds ? (Date.now() / 1000 - range.seconds).toFixed(3) : null;
    return { from, gateway, status, provider, model, cached, feedback, cursor, limit };
  }

  // Only the newest load draws, and none made for earlier filters: a filter changed while a slow
  // answer was on its way does not show that answer under the new filters.
  function refresh(reset = false) {
    if (!bar.firstChild) return null; // the filter bar (drawn once the gateways are known) comes first
    if (reset) {
      generation += 1;
      older = null; // a cursor of the earlier filters' pages
      extended = false;
      more.hidden = true;
    }
    const mine = generation;
    return loads.run(async (current) => {
      let answer;
      try {
        answer = await newest(reset);
      } catch (error) {
        if (current() && mine === generation) problem(`Could not load logs: ${error.message}`);
        return;
      }
      if (!current() || mine !== generation) return;
      const { fetched, next, joined } = answer;
      if (joined) {
        const fresh = new Set(fetched.map((r) => r.id));
        rows = [...fetched, ...rows.filter((r) => !fresh.has(r.id))];
      } else {
        rows = fetched;
        older = next;
        extended = rows.length > PAGE; // (a flood of new requests: the pages fetched to catch up)
      }
      if (reset) seen.clear();
      draw(!reset && seen.size > 0);
    });
  }

  // The newest page; once older pages were loaded, the pages after it down to the newest row
  // shown, so that the table stays one run of records (`joined`). Past CATCH_UP_CALLS calls
  // (a flood of new requests) the table starts again from the newest.
  async function newest(reset) {
    let page = await api.logs(params());
    if (!fitted) page = await fitRange(page);
    const fetched = [...page.result];
    let next = page.next_cursor;
    if (reset || !extended) return { fetched, next, joined: false };
    const shown = new Set(rows.map((r) => r.id));
    const reached = () => fetched.some((r) => shown.has(r.id));
    for (let calls = 1; !reached() && next && calls < CATCH_UP_CALLS; calls += 1) {
      page = await api.logs(params(next, CATCH_UP_PAGE));
      fetched.push(...page.result);
      next = page.next_cursor;
    }
    return { fetched, next, joined: reached() };
  }

  // A new install's requests are often older than the default range (tried yesterday, looked at
  // today): when that range is empty but older records exist, show all time and say why.
  async function fitRange(page) {
    fitted = true;
    if (page.result.length || state.range !== DEFAULT_RANGE) return page;
    const newestRecord = await api.logs({ limit: 1 });
    if (!newestRecord.result.length) return page;
    state.range = "all";
    bar.querySelector("select[name=range]").value = "all";
    const label = RANGES.find((r) => r.id === DEFAULT_RANGE).label.toLowerCase();
    note.hidden = false;
    note.textContent = `No requests in the ${label}: showing all time (the newest is from ${time(newestRecord.result[0].ts)}).`;
    return api.logs(params());
  }

  // The button is off while the page comes (a double click asks once).
  function loadOlder() {
    if (!older) return null;
    const mine = generation;
    return whileBusy(more, async () => {
      let page;
      try {
        page = await api.logs(params(older));
      } catch (error) {
        problem(`Could not load older records: ${error.message}`, true);
        return;
      }
      if (mine !== generation) return; // the filters changed meanwhile
      const shown = new Set(rows.map((r) => r.id));
      rows = [...rows, ...page.result.filter((r) => !shown.has(r.id))];
      older = page.next_cursor;
      extended = true;
      draw(false); // older rows are not new ones
    });
  }

  // A message in the table; `keep` leaves the rows there (a failed "Load older").
  function problem(message, keep = false) {
    const cell = h("tr", { class: "message" }, h("td", { colspan: COLUMNS.length, class: "error" }, message));
    if (keep) table.append(cell);
    else clear(table, cell);
  }

  function rowOf(id) {
    return id ? table.querySelector(`tr[data-id="${CSS.escape(id)}"]`) : null;
  }

  // The rows drawn in place: a row still shown keeps its element (and the focus, when it has it),
  // redrawn only when its record changed; new rows go in before the rows they precede.
  function draw(markNew) {
    keepingFocus(table, () => {
      const wanted = new Set(rows.map((r) => r.id));
      for (const row of [...table.children]) if (!wanted.has(row.dataset.id)) row.remove();
      let next = table.firstElementChild;
      for (const r of rows) {
        const signature = JSON.stringify(r);
        let row = rowOf(r.id);
        if (!row) {
          row = h("tr", { dataset: { id: r.id, gateway: r.gateway, focus: `log:${r.id}` }, tabindex: 0, onclick: () => open(r.id), onkeydown: (event) => event.key === "Enter" && open(r.id) });
          if (markNew && !seen.has(r.id)) row.classList.add("new");
        }
        if (row.dataset.signature !== signature) {
          row.dataset.signature = signature;
          clear(row, cells(r));
        }
        row.classList.toggle("selected", r.id === detail.shown);
        seen.add(r.id);
        if (row === next) next = row.nextElementSibling;
        else table.insertBefore(row, next);
      }
    });
    empty.hidden = rows.length > 0;
    more.hidden = !older;
    fill("seen-providers", rows.map((r) => r.provider));
    fill("seen-models", rows.map((r) => r.model).filter(Boolean));
  }

  function fill(id, values) {
    const list = document.getElementById(id);
    if (list) clear(list, [...new Set(values)].sort().map((v) => h("option", { value: v })));
  }

  function open(id) {
    const record = rows.find((r) => r.id === id);
    if (!record) return;
    for (const row of table.querySelectorAll("tr.selected")) row.classList.remove("selected");
    rowOf(id)?.classList.add("selected");
    detail.open(record);
  }

  // The gateways make the filter bar; until they are listed, the timer asks again.
  function listGateways() {
    listing = api
      .gateways()
      .then((gateways) => {
        drawBar(gateways.map((g) => g.slug));
        refresh(true);
      })
      .catch((error) => problem(`Could not load the gateways: ${error.message} (trying again every few seconds)`))
      .finally(() => (listing = null));
  }

  const onKey = (event) => event.key === "Escape" && detail.close();
  document.addEventListener("keydown", onKey);
  listGateways();
  const timer = setInterval(() => {
    if (!bar.firstChild) return listing || listGateways();
    if (state.live && !document.hidden && !loads.busy) refresh();
  }, REFRESH_MS);
  return () => {
    clearInterval(timer);
    loads.drop();
    document.removeEventListener("keydown", onKey);
  };
}

// A record's cells in the table.
function cells(r) {
  return [
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
    h("td", { class: "nowrap cache" }, cacheTag(r)),
  ];
}

// The cache outcome, and a mark when the semantic cache answered (a similar earlier question's
// answer); a shadow check (a semantic hit's question sent upstream again) is marked as one, with
// whether the fresh answer agreed.
function cacheTag(r) {
  if (r.cache_source === "shadow") {
    const verdict = r.shadow_agreed == null ? "" : r.shadow_agreed ? ": the fresh answer agreed" : ": the fresh answer disagreed";
    const agreed = r.shadow_agreed == null ? null : h("span", { class: `tag ${r.shadow_agreed ? "agreed" : "disagreed"}` }, r.shadow_agreed ? "agreed" : "disagreed");
    return [h("span", { class: "tag shadow", title: `shadow check of the semantic hit ${r.shadow_of || ""}${verdict}` }, "shadow"), agreed];
  }
  if (!r.cache_status) return null;
  const outcome = h("span", { class: `tag ${r.cache_status.toLowerCase()}`, title: r.cache_source ? `${r.cache_source} cache` : null }, r.cache_status);
  if (r.cache_source !== "semantic" || r.cache_status !== "HIT") return outcome;
  const similarity = r.semantic_similarity == null ? "" : ` (similarity ${r.semantic_similarity.toFixed(3)})`;
  return [outcome, h("span", { class: "tag semantic", title: `answered by the semantic cache: a similar earlier question's answer${similarity}` }, "semantic")];
}

// In / out, with a mark when they were counted with a tokenizer (the provider reported none).
function tokens(r) {
  if (r.tokens_in === null) return "–";
  const figures = `${count(r.tokens_in)} / ${count(r.tokens_out)}`;
  if (!r.usage_estimated) return figures;
  return [h("span", { class: "tag estimated", title: "estimated with a tokenizer: the provider reported no usage" }, "est."), figures];
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

// One request of the logs page in detail, in a panel beside the table: its facts, timings, usage,
// what the caches did (the semantic lookup's similarity and verdict; a shadow check's hit and
// whether it agreed), guardrail findings, feedback, attempts, headers and bodies.
//
// The panel takes the keyboard focus when it opens (Escape closes it, and the focus goes back to
// the row it came from). Only the newest record asked for is drawn: clicking another row before
// the first answer came does not show the first one late.

import { clear, count, h, ms, statusClass, time, usd } from "./dom.js";
import { newestOnly } from "./loads.js";

export const FEEDBACK = { 1: ["👍", "positive", "thumbs up"], 0: ["neutral", "neutral", "neutral (not evaluated)"], "-1": ["👎", "negative", "thumbs down"] };

// `{ element, open(record), close(), shown }`; `closed(id, hadFocus)` after the panel closes.
export function detailPanel(api, closed) {
  const element = h("aside", { class: "detail card", hidden: true, tabindex: "-1", "aria-label": "Request detail" });
  const loads = newestOnly();
  const panel = { element, open, close, shown: null };
  element.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });

  function open(record) {
    panel.shown = record.id;
    element.hidden = false;
    clear(element, h("p", { class: "muted" }, "Loading…"));
    element.focus({ preventScroll: true });
    return loads.run(async (current) => {
      let full;
      try {
        full = await api.log(record.gateway, record.id);
      } catch (error) {
        if (current()) clear(element, h("p", { class: "error" }, `Could not load the request: ${error.message}`));
        return;
      }
      if (current()) draw(full);
    });
  }

  function close() {
    if (element.hidden) return;
    const id = panel.shown;
    const hadFocus = element.contains(document.activeElement);
    element.hidden = true;
    panel.shown = null;
    loads.drop();
    closed(id, hadFocus);
  }

  function draw(r) {
    const shut = h("button", { class: "icon", title: "Close (Esc)", "aria-label": "Close", onclick: close }, "×");
    clear(
      element,
      h("div", { class: "detail-head" }, h("h2", {}, h("span", { class: statusClass(r.status) }, r.status), ` ${r.method} ${r.endpoint}`), shut),
      h("p", { class: "muted small mono" }, r.id),
      r.error ? h("div", { class: "callout error" }, r.error) : null,
      r.degraded ? h("div", { class: "callout warning" }, `Incomplete record: ${r.degraded}`) : null,
      section("Request", facts([
        ["Time", time(r.ts)], ["Gateway", r.gateway], ["Provider", r.provider], ["Model", r.model || "–"],
        ["Stream", r.stream ? "yes" : "no"], ["Universal step", r.step ?? "–"],
      ])),
      section("Timings", facts([
        ["Latency", ms(r.latency_ms)], ["Time to first byte", ms(r.ttfb_ms)], ["Cache", cacheLabel(r)],
        ["Time saved", r.cache_saved_ms ? ms(r.cache_saved_ms) : "–"], ["Rate-limited", r.rate_limited ? "yes" : "no"],
      ])),
      semantic(r),
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

  return panel;
}

// The semantic cache's part: a lookup's best candidate (its similarity, the verifier's verdict),
// or, on a shadow request, the hit it checked and whether the fresh answer agreed.
function semantic(r) {
  const shadow = r.cache_source === "shadow";
  if (!shadow && r.semantic_similarity == null) return null;
  const verdict = { true: "accepted", false: "refused" }[r.semantic_verified] || "did not judge";
  const pairs = shadow
    ? [
        ["Shadow check of", r.shadow_of || "–"],
        ["Fresh answer agreed", r.shadow_agreed == null ? "–" : r.shadow_agreed ? "yes" : "no"],
        ["Answers' similarity", fraction(r.semantic_score)],
      ]
    : [
        ["Similarity", fraction(r.semantic_similarity)],
        ["Verifier", verdict],
        ["Verifier score", fraction(r.semantic_score)],
      ];
  if (shadow && r.semantic_similarity != null) pairs.push(["Questions' similarity", fraction(r.semantic_similarity)]);
  if (r.saved_usd != null) pairs.push(["Saved", usd(r.saved_usd)]);
  return section(shadow ? "Shadow check" : "Semantic cache", facts(pairs));
}

function fraction(value) {
  return value == null ? "–" : Number(value).toFixed(3);
}

function section(title, content) {
  return h("section", { class: "detail-section", dataset: { section: title } }, h("h3", {}, title), content);
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

// A stored body, formatted when it is JSON (SSE, text, base64:… as stored); one cut to
// logs.body_limit says so, with its sizes.
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

// "HIT", "MISS semantic": which cache the status is about, when it is the semantic one. No status:
// no cache applied (the gateway's cache is off, or the request is not one it keeps).
export function cacheLabel(r) {
  if (r.cache_source === "shadow") return "shadow check (not a lookup)";
  if (!r.cache_status) return "none applied";
  return r.cache_source === "semantic" ? `${r.cache_status} semantic` : r.cache_status;
}

// What the guardrails found (`metadata.guardrails`: "request:redact:email, response:flag:phone").
export function findings(r) {
  const value = (r.metadata || {}).guardrails;
  if (Array.isArray(value)) return value.map(String);
  return typeof value === "string" ? value.split(",").map((f) => f.trim()).filter(Boolean) : [];
}

// The overview and accelerator pages: analytics of the filtered range, as figures and charts.

import { timeChart } from "./charts.js";
import { clear, count, decimalsOf, duration, h, ms, percent, usd } from "./dom.js";
import { filterBar } from "./filters.js";
import { newestOnly } from "./loads.js";

const REFRESH_MS = 30000;
const PERCENTILES = ["p50", "p90", "p95", "p99"];

export function overviewPage(context, main) {
  return analyticsPage(context, main, "Overview", (result) => {
    const t = result.totals;
    const series = result.series;
    const hitRate = (p) => {
      const looked = p.cache_hits + p.semantic_hits + p.cache_misses;
      return looked ? (100 * (p.cache_hits + p.semantic_hits)) / looked : null;
    };
    return {
      figures: [
        figure("Requests", count(t.requests), `${count(t.rate_limited)} rate-limited`),
        figure("Errors", count(t.errors_4xx + t.errors_5xx), `${percent(t.errors_4xx + t.errors_5xx, t.requests)} · ${count(t.errors_4xx)} 4xx · ${count(t.errors_5xx)} 5xx`),
        figure("Tokens", count(t.tokens_in + t.tokens_out), `${count(t.tokens_in)} in · ${count(t.tokens_out)} out`),
        figure("Estimated cost", usd(t.cost_usd), "USD, from the price table"),
        figure("Cache hit rate", percent(t.cache_hits + t.semantic_hits, t.cache_hits + t.semantic_hits + t.cache_misses), `${count(t.cache_hits + t.semantic_hits)} hits · ${count(t.cache_misses)} misses`),
        figure("Origin latency p50", ms(t.latency.p50), `p95 ${ms(t.latency.p95)} · p99 ${ms(t.latency.p99)}`),
        feedback(result.feedback),
        guardrails(result.guardrails),
      ],
      charts: [
        chart("Requests", [
          { label: "requests", values: series.map((p) => p.requests) },
          { label: "errors", values: series.map((p) => p.errors_4xx + p.errors_5xx), color: "#e11d48" },
        ], count),
        chart("Tokens", [
          { label: "in", values: series.map((p) => p.tokens_in) },
          { label: "out", values: series.map((p) => p.tokens_out), color: "#7c3aed" },
        ], count),
        chart("Estimated cost (USD)", [{ label: "cost", values: series.map((p) => p.cost_usd), color: "#10b981" }], usd),
        chart("Cache hit rate", [{ label: "hit rate", values: series.map(hitRate), color: "#0ea5e9" }], (v, { step = 1 } = {}) => `${v.toFixed(decimalsOf(step))}%`),
        chart("Errors", [
          { label: "4xx", values: series.map((p) => p.errors_4xx), color: "#f59e0b" },
          { label: "5xx", values: series.map((p) => p.errors_5xx), color: "#e11d48" },
          { label: "rate-limited", values: series.map((p) => p.rate_limited), color: "#64748b" },
        ], count),
        latencyChart("Origin latency", series),
      ],
    };
  });
}

export function acceleratorPage(context, main) {
  const semantic = (api, params) => api.semanticReport(params);
  return analyticsPage(context, main, "Accelerator", (result) => {
    const t = result.totals;
    const series = result.series;
    const report = result.semantic;
    return {
      figures: [
        figure("Total requests", count(t.requests), `${count(t.cache_hits + t.semantic_hits)} answered from the cache`),
        figure("Tokens served from cache", count(t.tokens_from_cache), "tokens in + out of cached answers"),
        figure("Estimated time saved", duration(t.time_saved_ms), "origin latency of the cached answers"),
        percentiles("Origin latency", t.latency),
        shadowPrecision(report.shadow),
        thresholds(report.effective),
      ],
      charts: [
        chart("Cache", [
          { label: "exact hits", values: series.map((p) => p.cache_hits), color: "#10b981" },
          { label: "semantic hits", values: series.map((p) => p.semantic_hits), color: "#0ea5e9" },
          { label: "misses", values: series.map((p) => p.cache_misses), color: "#f59e0b" },
        ], count),
        timeSaved(series),
        chart("Tokens served from cache", [{ label: "tokens", values: series.map((p) => p.tokens_from_cache) }], count),
        latencyChart("Origin latency percentiles", series),
        ...whatIf(report),
      ],
    };
  }, semantic);
}

// The estimated precision of semantic hits: the share of shadow checks whose fresh answer agreed.
function shadowPrecision(shadow) {
  const value = shadow.precision === null ? "–" : `${(100 * shadow.precision).toFixed(1)}%`;
  const note = shadow.checked
    ? `${count(shadow.agreed)} of ${count(shadow.checked)} shadow checks agreed · 95% ≥ ${(100 * shadow.precision_low).toFixed(1)}%`
    : "no shadow checks: turn on semantic_shadow_rate";
  return figure("Semantic precision", value, note);
}

// Each gateway's semantic threshold in force, and the configured one when they differ.
function thresholds(effective) {
  const entries = Object.entries(effective);
  return h(
    "div",
    { class: "card figure", dataset: { figure: "Semantic threshold" } },
    h("div", { class: "label" }, "Semantic threshold"),
    h("div", { class: "value" }, entries.length === 0 ? "off" : entries.length === 1 ? entries[0][1].effective.toFixed(2) : `${count(entries.length)} gateways`),
    h(
      "div",
      { class: "note" },
      entries.length
        ? entries.map(([slug, g]) =>
            h("div", { dataset: { gateway: slug } }, `${slug}: ${g.effective.toFixed(2)}${g.effective !== g.configured ? ` (raised from ${g.configured.toFixed(2)})` : ""}`),
          )
        : "no gateway uses the semantic cache",
    ),
  );
}

// Threshold what-if: hits and savings had each threshold been in force, from the logged lookups.
function whatIf(report) {
  const rows = report.thresholds;
  const x = { xs: rows.map((r) => r.threshold), xFormat: (v) => v.toFixed(2), xLabel: "Threshold" };
  return [
    {
      ...chart("Semantic hits by threshold", [
        { label: "would-be hits", values: rows.map((r) => r.hits), color: "#0ea5e9" },
        { label: "shadow-checked", values: rows.map((r) => r.shadow_checked), color: "#7c3aed" },
      ], count),
      ...x,
    },
    { ...chart("Estimated savings by threshold (USD)", [{ label: "savings", values: rows.map((r) => r.savings_usd), color: "#10b981" }], usd), ...x },
  ];
}

// A page that loads analytics for the filters, draws `layout(result)`, and refreshes itself.
// `more(api, params)`, when given, loads what else the layout reads, as `result.semantic`.
// Only the newest load draws: an answer for filters since changed, arriving late, is dropped.
function analyticsPage(context, main, title, layout, more = null) {
  const { api, filters } = context;
  let charts = [];
  let gateways = [];
  let latest = null;
  const loads = newestOnly();
  const body = h("div", { class: "analytics" }, h("p", { class: "muted" }, "Loading…"));
  const updated = h("span", { class: "muted small" });
  const choices = () => ({ gateways, providers: latest?.providers || [], models: latest?.models || [] });
  const bar = filterBar(filters, choices(), () => load());
  clear(main, h("header", { class: "page-head" }, h("h1", {}, title), updated), h("div", { class: "toolbar" }, bar.element), body);

  const load = () =>
    loads.run(async (current) => {
      let answer;
      try {
        const params = filters.params();
        const [analytics, extra] = await Promise.all([api.analytics(params), more ? more(api, params) : null]);
        answer = { ...analytics, semantic: extra };
      } catch (error) {
        if (current()) clear(body, h("div", { class: "card error" }, `Could not load analytics: ${error.message}`));
        return;
      }
      if (!current()) return;
      latest = answer;
      draw();
    });

  function draw() {
    bar.update(choices());
    for (const c of charts) c.dispose();
    const { figures, charts: specs } = layout(latest);
    const grid = h("div", { class: "charts" });
    // The API's day buckets start at 00:00 UTC: their charts are labelled in UTC, and say so.
    const utc = latest.interval === "day";
    clear(
      body,
      h("div", { class: "figures" }, figures),
      h("p", { class: "muted small" }, `${latest.series.length} points, one per ${latest.interval}${utc ? " (days in UTC)" : ""} · ${rangeText(latest)}`),
      grid,
    );
    charts = specs.map((spec) => {
      const plot = h("div", { class: "plot" });
      grid.append(h("section", { class: "card chart", dataset: { chart: spec.title } }, h("h2", {}, spec.title), plot));
      const times = spec.xs || latest.series.map((p) => p.start);
      return timeChart(plot, { times, series: spec.series, format: spec.format, xFormat: spec.xFormat, xLabel: spec.xLabel, utc: utc && !spec.xFormat });
    });
    updated.textContent = `Updated ${new Date().toLocaleTimeString("en-GB")}`;
  }

  api.gateways().then((list) => ((gateways = list.map((g) => g.slug)), bar.update(choices()))).catch(() => {});
  load();
  // The timer's refresh waits while a load is under way (a slow API gets no pile of calls).
  const timer = setInterval(() => loads.busy || load(), REFRESH_MS);
  return () => {
    clearInterval(timer);
    loads.drop();
    for (const c of charts) c.dispose();
  };
}

function figure(label, value, note) {
  return h("div", { class: "card figure", dataset: { figure: label } }, h("div", { class: "label" }, label), h("div", { class: "value" }, value), h("div", { class: "note" }, note));
}

// Feedback given on the range's records: thumbs up and down, and the mean score.
function feedback(f) {
  const mean = f.mean_score === null ? "no scores" : `${f.scored} scored, mean ${Number(f.mean_score.toFixed(1))}`;
  return figure("Feedback", `👍 ${count(f.positive)} · 👎 ${count(f.negative)}`, `${count(f.neutral)} neutral · ${mean}`);
}

// Records the guardrails found something in, with their findings by action and by entity.
function guardrails(g) {
  const breakdown = (kind, counts) =>
    h(
      "div",
      { class: "breakdown", dataset: { breakdown: kind } },
      h("span", { class: "muted" }, `by ${kind}:`),
      Object.entries(counts).map(([name, n]) => h("span", { dataset: { name } }, `${name} ${count(n)}`)),
    );
  return h(
    "div",
    { class: "card figure wide", dataset: { figure: "Guardrails" } },
    h("div", { class: "label" }, "Guardrails"),
    h("div", { class: "value" }, count(g.records)),
    g.records ? [breakdown("action", g.by_action), breakdown("entity", g.by_entity)] : null,
    h("div", { class: "note" }, "requests with guardrail findings"),
  );
}

// Origin latency percentiles side by side in one wide card.
function percentiles(label, latency) {
  return h(
    "div",
    { class: "card figure wide", dataset: { figure: label } },
    h("div", { class: "label" }, label),
    h("div", { class: "split" }, PERCENTILES.map((p) => h("div", {}, h("div", { class: "label" }, p), h("div", { class: "value" }, ms(latency[p]))))),
    h("div", { class: "note" }, `${count(latency.requests)} requests answered by an upstream`),
  );
}

// Time saved in one unit (seconds, minutes or hours), chosen from the largest bucket.
function timeSaved(series) {
  const largest = Math.max(0, ...series.map((p) => p.time_saved_ms));
  const [unit, per] = largest >= 7200000 ? ["h", 3600000] : largest >= 120000 ? ["min", 60000] : ["s", 1000];
  // On the axis, as many decimals as its step needs (0.05 s apart: 0.05, 0.1, 0.15, not 0.1 three times).
  const format = (v, { step = null } = {}) => `${Number(v.toFixed(step ? decimalsOf(step) : v < 10 ? 1 : 0))} ${unit}`;
  return chart("Estimated time saved", [{ label: "saved", values: series.map((p) => p.time_saved_ms / per), color: "#7c3aed" }], format);
}

function chart(title, lines, format) {
  return { title, series: lines, format };
}

function latencyChart(title, series) {
  const colors = ["#0284c7", "#10b981", "#f59e0b", "#e11d48"];
  return chart(
    title,
    PERCENTILES.map((p, i) => ({ label: p, values: series.map((point) => point.latency[p]), color: colors[i] })),
    ms,
  );
}

function rangeText(result) {
  const format = (t) => new Date(t * 1000).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
  return `${format(result.from)} – ${format(result.to)}`;
}

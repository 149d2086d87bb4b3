// The spend page: the top spenders per token, user, team or model over a period, what each has left
// of its budgets, and the trend (of everyone, or of the spender picked in the table).
//
// Everything comes from GET /api/v1/accounts/{a}/spend: spend from the logs, budgets from the
// rate-limit counters. Bars are <meter> elements: no inline styles under the page's CSP.

import { timeChart } from "./charts.js";
import { clear, count, h, keepingFocus, usd } from "./dom.js";
import { newestOnly } from "./loads.js";

const DIMENSIONS = [
  ["token", "Token"],
  ["user", "User"],
  ["team", "Team"],
  ["model", "Model"],
];
const PERIODS = [
  ["24h", "Last 24 hours"],
  ["7d", "Last 7 days"],
  ["30d", "Last 30 days"],
  ["90d", "Last 90 days"],
];
const REFRESH_MS = 30000;

export function spendPage(context, main) {
  const { api } = context;
  const state = { by: "token", since: "30d", gateway: "", key: "" };
  let chart = null;
  const loads = newestOnly();
  const body = h("div", { class: "spend" }, h("p", { class: "muted" }, "Loading…"));
  const updated = h("span", { class: "muted small" });

  const select = (name, options) =>
    h(
      "select",
      {
        name,
        onchange: (event) => {
          state[name] = event.target.value;
          if (name === "by") state.key = ""; // a spender of another kind
          load();
        },
      },
      options.map(([value, text]) => h("option", { value, selected: value === state[name] }, text)),
    );
  const field = (label, control) => h("label", { class: "field" }, h("span", {}, label), control);
  const gatewayChoice = select("gateway", [["", "All gateways"]]);
  const bar = h(
    "div",
    { class: "toolbar" },
    h("div", { class: "filters" }, field("Spend by", select("by", DIMENSIONS)), field("Period", select("since", PERIODS)), field("Gateway", gatewayChoice)),
  );
  clear(main, h("header", { class: "page-head" }, h("h1", {}, "Spend"), updated), bar, body);

  // Only the newest load draws: an answer for a choice since changed, arriving late, is dropped.
  const load = () =>
    loads.run(async (current) => {
      let result;
      try {
        result = await api.get(api.account("/spend"), { by: state.by, since: state.since, gateway: state.gateway, key: state.key });
      } catch (error) {
        if (current()) clear(body, h("div", { class: "card error" }, `Could not load spend: ${error.message}`));
        return;
      }
      if (current()) keepingFocus(body, () => draw(result));
    });

  function draw(result) {
    if (chart) chart.dispose();
    const t = result.totals;
    const trend = h("div", { class: "plot" });
    const picked = state.key ? `${label(result.by)} ${state.key}` : "everyone";
    const everyone = state.key ? h("button", { class: "secondary small", dataset: { focus: "everyone" }, onclick: () => ((state.key = ""), load()) }, "Show everyone") : null;
    clear(
      body,
      h(
        "div",
        { class: "figures" },
        figure("Spend", usd(t.cost_usd), t.unpriced ? `${count(t.unpriced)} requests without a known price` : "USD, from the price table"),
        figure("Requests", count(t.requests), `${count(result.spenders)} ${plural(result.by, result.spenders)}`),
        figure("Tokens", count(t.tokens_in + t.tokens_out), `${count(t.tokens_in)} in · ${count(t.tokens_out)} out`),
      ),
      result.budgets.length
        ? h("section", { class: "card budgets-card", dataset: { section: "gateway budgets" } }, h("h2", {}, "Gateway budgets"), h("div", { class: "budget-list" }, result.budgets.map(budget)))
        : null,
      h(
        "section",
        { class: "card table-card" },
        h("h2", { class: "table-title" }, `Top spenders by ${label(result.by).toLowerCase()}`),
        spenders(result),
      ),
      h(
        "section",
        { class: "card chart", dataset: { chart: "Spend trend" } },
        h("div", { class: "chart-head" }, h("h2", {}, `Spend trend: ${picked}`), everyone),
        trend,
      ),
    );
    // Day buckets start at 00:00 UTC: labelled in UTC (in local time, a day's spend would show
    // under the day before or after).
    const utc = result.interval === "day";
    chart = timeChart(trend, {
      times: result.series.map((p) => p.start),
      series: [{ label: "cost", values: result.series.map((p) => p.cost_usd), color: "#10b981" }],
      format: usd,
      utc,
    });
    updated.textContent = `Updated ${new Date().toLocaleTimeString("en-GB")}`;
  }

  // The table of top spenders; picking a row shows its trend.
  function spenders(result) {
    if (!result.result.length) return h("p", { class: "muted empty" }, "No requests in this period.");
    const most = Math.max(...result.result.map((row) => row.cost_usd), 0);
    return h(
      "table",
      { class: "spenders" },
      h("thead", {}, h("tr", {}, [label(result.by), "Requests", "Tokens", "Spend", "Budget left"].map((c) => h("th", {}, c)))),
      h(
        "tbody",
        {},
        result.result.map((row) =>
          h(
            "tr",
            {
              dataset: { key: row.key ?? "", focus: row.key === null ? null : `spender:${row.key}` },
              class: row.key !== null && row.key === state.key ? "selected" : null,
              tabindex: row.key === null ? null : "0",
              title: row.key === null ? `Requests without a ${label(result.by).toLowerCase()}: they share one budget of each rule` : "Show this spender's trend",
              onclick: () => pick(row),
              onkeydown: (event) => event.key === "Enter" && pick(row),
            },
            h("td", {}, spenderName(result.by, row)),
            h("td", { class: "num" }, count(row.requests)),
            h("td", { class: "num" }, count(row.tokens_in + row.tokens_out)),
            h("td", { class: "num spend-cell" }, h("meter", { min: 0, max: most || 1, value: row.cost_usd }), " ", usd(row.cost_usd), row.unpriced ? h("span", { class: "tag", title: "requests whose model has no known price" }, `+${row.unpriced} unpriced`) : null),
            h("td", {}, row.budgets.length ? h("div", { class: "budget-list" }, row.budgets.map(budget)) : h("span", { class: "muted" }, "no budget")),
          ),
        ),
      ),
    );
  }

  function pick(row) {
    if (row.key === null) return;
    state.key = row.key === state.key ? "" : row.key;
    load();
  }

  api
    .gateways()
    .then((list) => {
      clear(gatewayChoice, h("option", { value: "" }, "All gateways"), list.map((g) => h("option", { value: g.slug }, g.slug)));
      gatewayChoice.value = state.gateway;
    })
    .catch(() => {});
  load();
  // The timer's refresh waits while a load is under way (a slow API gets no pile of calls).
  const timer = setInterval(() => loads.busy || load(), REFRESH_MS);
  return () => {
    clearInterval(timer);
    loads.drop();
    if (chart) chart.dispose();
  };
}

// One rule's bucket: what is left of how much, a bar of what is used, and when room frees up.
function budget(b) {
  const [left, limit] = b.unit === "cost" ? dollars(b.remaining, b.limit) : [b.remaining, b.limit].map((value) => `${count(value)} ${b.unit}`);
  const low = b.remaining <= b.limit * 0.1;
  return h(
    "div",
    { class: `budget${low ? " low" : ""}`, dataset: { budget: b.label, remaining: String(b.remaining), limit: String(b.limit) } },
    h("div", { class: "budget-head" }, h("span", { class: "budget-label" }, b.label), b.gateway ? h("span", { class: "muted small" }, ` · ${b.gateway}`) : null),
    h("meter", { min: 0, max: b.limit, value: b.limit - b.remaining, low: b.limit * 0.75, high: b.limit * 0.9, optimum: 0 }),
    h("div", { class: "small" }, `${left} left of ${limit}`, h("span", { class: "muted" }, ` · resets in ${resetText(b.reset_after)}`)),
  );
}

// What is left and the limit in dollars, with as many decimals as it takes to tell them apart
// ("$0.0496 left of $0.05", not "$0.05 left of $0.05"), and three significant digits at least.
function dollars(left, limit) {
  for (let decimals = 2; decimals < 12; decimals += 1) {
    const pair = [usd(left, { digits: 3, step: 10 ** -decimals }), usd(limit, { digits: 3, step: 10 ** -decimals })];
    if (pair[0] !== pair[1] || left === limit) return pair;
  }
  return [usd(left, { digits: 12 }), usd(limit, { digits: 12 })];
}

function spenderName(by, row) {
  if (row.key === null) return h("span", { class: "muted" }, by === "token" ? "no token" : by === "model" ? "no model" : `no ${by}`);
  if (by === "token") return h("span", {}, row.name || "token", " ", h("span", { class: "mono muted small" }, row.key));
  return row.key;
}

function figure(labelText, value, note) {
  return h("div", { class: "card figure", dataset: { figure: labelText } }, h("div", { class: "label" }, labelText), h("div", { class: "value" }, value), h("div", { class: "note" }, note));
}

function label(by) {
  return DIMENSIONS.find(([value]) => value === by)[1];
}

function plural(by, n) {
  const word = { token: "token", user: "user", team: "team", model: "model" }[by];
  return n === 1 ? word : `${word}s`;
}

function resetText(seconds) {
  if (seconds < 90) return `${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

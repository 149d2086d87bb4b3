// The filter bar shared by the overview and accelerator pages: time range, gateway, provider, model.

import { clear, h } from "./dom.js";

export const RANGES = [
  { id: "1h", label: "Last hour", seconds: 3600 },
  { id: "6h", label: "Last 6 hours", seconds: 6 * 3600 },
  { id: "24h", label: "Last 24 hours", seconds: 86400 },
  { id: "7d", label: "Last 7 days", seconds: 7 * 86400 },
  { id: "30d", label: "Last 30 days", seconds: 30 * 86400 },
  { id: "custom", label: "Custom range…" },
];

export class Filters {
  constructor() {
    this.range = "24h";
    this.from = null; // custom range, epoch seconds
    this.to = null;
    this.gateway = "";
    this.provider = "";
    this.model = "";
  }

  // The analytics API's parameters for this moment.
  params() {
    const now = Date.now() / 1000;
    const preset = RANGES.find((r) => r.id === this.range);
    const [from, to] = this.range === "custom" ? [this.from, this.to] : [now - preset.seconds, now];
    return { from: from && from.toFixed(3), to: to && to.toFixed(3), gateway: this.gateway, provider: this.provider, model: this.model };
  }
}

// The bar: `{ element, update(choices) }`, `choices` holding the options seen ({gateways,
// providers, models}); `changed()` after each edit. The bar is drawn once: `update` changes only
// the options of a list that differ, so the control a person is using keeps the keyboard focus.
export function filterBar(filters, choices, changed) {
  const lists = [];
  const select = (name, label, all) => {
    const control = h("select", { name, onchange: (event) => ((filters[name] = event.target.value), changed()) });
    lists.push({ name, control, all });
    return h("label", { class: "field" }, h("span", {}, label), control);
  };
  const custom = h(
    "span",
    { class: "custom-range", hidden: filters.range !== "custom" },
    dateInput("from", filters, changed),
    "–",
    dateInput("to", filters, changed),
  );
  const range = h(
    "select",
    {
      name: "range",
      onchange: (event) => {
        filters.range = event.target.value;
        if (filters.range === "custom" && filters.from === null) {
          filters.to = Math.floor(Date.now() / 1000);
          filters.from = filters.to - 86400;
          for (const input of custom.querySelectorAll("input")) input.value = toLocal(filters[input.name]);
        }
        custom.hidden = filters.range !== "custom";
        changed();
      },
    },
    RANGES.map((r) => h("option", { value: r.id, selected: r.id === filters.range }, r.label)),
  );
  const element = h(
    "div",
    { class: "filters" },
    h("label", { class: "field" }, h("span", {}, "Time range"), range),
    custom,
    select("gateway", "Gateway", "All gateways"),
    select("provider", "Provider", "All providers"),
    select("model", "Model", "All models"),
  );
  const update = (seen) => {
    for (const { name, control, all } of lists) {
      const values = seen[`${name}s`] || [];
      // A chosen value stays listed even when the current range has not seen it.
      const wanted = ["", ...values, ...(filters[name] && !values.includes(filters[name]) ? [filters[name]] : [])];
      const shown = [...control.options].map((option) => option.value);
      if (shown.length !== wanted.length || shown.some((value, i) => value !== wanted[i])) {
        clear(control, wanted.map((value) => h("option", { value }, value || all)));
      }
      control.value = filters[name];
    }
  };
  update(choices);
  return { element, update };
}

function toLocal(epoch) {
  if (epoch === null) return "";
  const date = new Date(epoch * 1000);
  return new Date(date.getTime() - date.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

function dateInput(name, filters, changed) {
  return h("input", {
    type: "datetime-local",
    name,
    value: toLocal(filters[name]),
    onchange: (event) => {
      const value = Date.parse(event.target.value);
      if (!Number.isNaN(value)) {
        filters[name] = value / 1000;
        changed();
      }
    },
  });
}

// DOM building and number formatting. Text always goes in as text nodes, never as HTML: log bodies
// and headers are whatever clients and providers sent. Text that is not the page's own (an API's
// error message quotes what was sent) goes through h() or clear(), not textContent, which would
// skip the bidi escaping below.

export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name in element && typeof value !== "string") element[name] = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : text(String(child)));
  }
}

// Bidi embeddings, overrides and isolates (U+202A–E, U+2066–9): in a model name or metadata a
// client chose, U+202E shows the rest of it reversed. Each is shown as its escape (`\u202e`, marked),
// so what is on screen is what was sent. Marks (U+200E/F) and right-to-left text are left as they are.
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/g;

function text(value) {
  if (!value.match(BIDI_CONTROLS)) return document.createTextNode(value);
  const parts = document.createDocumentFragment();
  let last = 0;
  for (const found of value.matchAll(BIDI_CONTROLS)) {
    parts.append(value.slice(last, found.index));
    const code = found[0].codePointAt(0).toString(16);
    parts.append(h("span", { class: "control", title: `U+${code.toUpperCase()}, a bidi control character` }, `\\u${code}`));
    last = found.index + 1;
  }
  parts.append(value.slice(last));
  return parts;
}

export function clear(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

const integer = new Intl.NumberFormat("en-US");
const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

export function count(value) {
  if (value === null || value === undefined) return "–";
  return Math.abs(value) >= 100000 ? compact.format(value) : integer.format(value);
}

// Dollars as plain decimals (never "2.0e-8"): cents from a cent up, two significant digits below.
// `digits` asks for more significant digits (a budget's remainder); `step` is a chart axis's
// spacing, whose labels need as many decimals as it has to differ from each other.
export function usd(value, { digits = 2, step = null } = {}) {
  if (value === null || value === undefined) return "–";
  if (value === 0) return "$0.00";
  const sign = value < 0 ? "-" : "";
  const size = Math.abs(value);
  const decimals = Math.min(20, Math.max(2, decimalsOf(step), size < 1 ? digits - 1 - Math.floor(Math.log10(size)) : 0));
  const text = size.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: decimals });
  return `${sign}$${text}`;
}

// Decimals that tell multiples of `step` apart (0.05 → 2, 2 → 0); 0 without a step.
export function decimalsOf(step) {
  if (!step || !Number.isFinite(step)) return 0;
  return Math.max(0, Math.ceil(-Math.log10(step) - 1e-9));
}

export function ms(value) {
  if (value === null || value === undefined) return "–";
  if (value === 0) return "0 ms";
  if (value >= 60000) return `${(value / 60000).toFixed(1)} min`;
  if (value >= 1000) return `${(value / 1000).toFixed(2)} s`;
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`;
}

export function duration(milliseconds) {
  const seconds = milliseconds / 1000;
  if (seconds === 0) return "0 s";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

export function percent(part, whole) {
  return whole ? `${((100 * part) / whole).toFixed(1)}%` : "–";
}

export function time(epochSeconds, withDate = true) {
  const date = new Date(epochSeconds * 1000);
  const clock = date.toLocaleTimeString("en-GB", { hour12: false });
  if (!withDate) return clock;
  return `${date.toLocaleDateString("en-CA")} ${clock}`;
}

export function statusClass(status) {
  if (status >= 500) return "status s5";
  if (status >= 400) return "status s4";
  return "status s2";
}

// A short message at the bottom of the screen, for results of actions.
export function toast(message, kind = "info") {
  const note = h("div", { class: `toast ${kind}`, role: "status" }, message);
  document.body.append(note);
  setTimeout(() => note.remove(), 4000);
}

// Runs `work()` with `controls` (buttons) disabled: a second click, or a double click, cannot send
// the call again while the first is under way (two tokens created, a 409 beside a success).
export async function whileBusy(controls, work) {
  const list = [controls].flat().filter(Boolean);
  for (const control of list) control.disabled = true;
  try {
    return await work();
  } finally {
    for (const control of list) control.disabled = false;
  }
}

// Runs `draw()`, which may replace what is in `container`, and gives the keyboard focus back to
// the control that had it: the one of the new drawing with the same `data-focus` key. Without this,
// a refresh drops the focus on the page's body each time.
export function keepingFocus(container, draw) {
  const active = document.activeElement;
  const holder = active && active !== document.body && container.contains(active) ? active.closest("[data-focus]") : null;
  const result = draw();
  if (holder && document.activeElement !== active) {
    const again = holder.isConnected ? holder : container.querySelector(`[data-focus="${CSS.escape(holder.dataset.focus)}"]`);
    if (again) again.focus({ preventScroll: true });
  }
  return result;
}

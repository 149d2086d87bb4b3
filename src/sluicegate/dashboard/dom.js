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

export function usd(value) {
  if (value === null || value === undefined) return "–";
  if (value === 0) return "$0.00";
  if (Math.abs(value) < 0.01) return `$${value.toPrecision(2)}`;
  return `$${value.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
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

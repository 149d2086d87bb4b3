// The gateway settings as form fields, built from the admin API's own JSON schema (GatewaySettings
// in /api/v1/openapi.json): each property's kind, description and limits come from there, and a
// property the groups below do not name lands in "Other settings", so a new setting shows up
// without a change here. The form does not judge values: the API does, and its 400 names the
// field (`settings.cache_ttl`, `settings.rate_limits.0.period`), which `showFieldError` finds.

import { clear, h } from "./dom.js";

const GROUPS = [
  { title: "Authentication", fields: ["authentication"] },
  { title: "Caching", fields: ["cache_enabled", "cache_ttl", "cache_per_key"] },
  {
    title: "Semantic cache",
    fields: ["semantic_cache_enabled", "semantic_threshold", "semantic_shadow_rate", "semantic_shadow_per_minute", "semantic_max_error"],
    note: "Shadow mode sends a share of semantic hits upstream again, after the answer, to estimate precision; semantic_max_error raises the threshold from its verdicts.",
  },
  { title: "Retries and timeouts", fields: ["request_timeout_ms", "max_attempts", "retry_delay_ms", "backoff"] },
  { title: "Log retention and caps", fields: ["collect_logs", "retention_days", "max_records", "on_max_records"] },
  { title: "Payload collection", fields: ["collect_payloads"] },
  { title: "Redaction", fields: ["redact_paths", "redact_patterns"], note: "Applied to bodies before they are stored." },
  { title: "Rate limits and budgets", fields: ["rate_limits"], note: "A rule that counts cost is a budget, in USD." },
  { title: "Guardrails", fields: ["guardrails"], note: "Personal data, secrets and prompt injection in requests and answers." },
  {
    title: "Dynamic routes",
    fields: ["routes"],
    note: 'Route name → node, used as "model": "dynamic/<name>" (docs/routing.md).',
    empty: "Edited in the Routes card: each save there is a version you can restore.",
  },
];
const WORDS = { ttl: "TTL", ms: "(ms)", usd: "(USD)", id: "ID", url: "URL" };

// A value the browser cannot send (JSON that does not parse), reported like the API's errors.
export class FieldError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

// The form's fieldsets, and `changes()`: the settings that differ from `settings`, as the API
// takes them in a PATCH (it merges them into the stored ones): only those the person changed.
// `omit` names settings edited elsewhere on the screen (the routes, in the Routes card): they get
// no field, so a save here never sends a stale copy of what was saved there.
export function settingsForm(schemas, settings, { omit = [] } = {}) {
  const schema = schemas.GatewaySettings;
  // Read-only settings (kept by the gateway, e.g. route versions) are shown nowhere and never sent.
  const editable = Object.entries(schema.properties).filter(([name, property]) => !property.readOnly && !omit.includes(name));
  const fields = editable.map(([name, property]) => {
    const value = name in settings ? settings[name] : property.default;
    return { name, value, ...setting(schemas, `settings.${name}`, name, property, value) };
  });
  const named = new Set(GROUPS.flatMap((g) => g.fields));
  const groups = [
    ...GROUPS.map((group) => ({ ...group, members: group.fields.map((n) => fields.find((f) => f.name === n)).filter(Boolean) })),
    { title: "Other settings", members: fields.filter((f) => !named.has(f.name)) },
  ];
  const element = groups
    .filter((group) => group.members.length || group.empty)
    .map((group) =>
      h(
        "fieldset",
        { class: group.members.some((f) => f.element.classList.contains("wide")) ? "group wide" : "group", dataset: { group: group.title } },
        h("legend", {}, group.title),
        group.note ? h("p", { class: "muted small" }, group.note) : null,
        group.members.length ? group.members.map((f) => f.element) : h("p", { class: "muted small placeholder" }, group.empty),
      ),
    );
  const changes = () => {
    const changed = {};
    for (const f of fields) {
      const value = f.read();
      if (canonical(value) !== canonical(f.value)) changed[f.name] = value;
    }
    return changed;
  };
  // What each setting held when the form was drawn, to tell what someone else changed since.
  const read = Object.fromEntries(fields.map((f) => [f.name, f.value]));
  return { element, changes, read };
}

// Shows the API's message next to the field its path names, or the nearest enclosing one
// (`settings.rate_limits.0` has no slot of its own: its table shows it). False when none matches.
export function showFieldError(root, field, message) {
  for (let path = field; path; path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "") {
    const target = root.querySelector(`[data-field="${CSS.escape(path)}"]`);
    const slot = target && target.querySelector(":scope > .field-error");
    if (slot) {
      clear(slot, message);
      slot.hidden = false;
      target.classList.add("invalid");
      target.scrollIntoView({ block: "center" });
      return true;
    }
  }
  return false;
}

export function clearFieldErrors(root) {
  for (const slot of root.querySelectorAll(".field-error")) slot.hidden = true;
  for (const target of root.querySelectorAll(".invalid")) target.classList.remove("invalid");
}

export function errorSlot() {
  return h("p", { class: "field-error", role: "alert", hidden: true });
}

export function label(name) {
  const words = name.split("_").map((w) => WORDS[w] || w);
  return [words[0].charAt(0).toUpperCase() + words[0].slice(1), ...words.slice(1)].join(" ");
}

// One labelled setting: its control, the schema's description and limits, a slot for errors.
function setting(schemas, path, name, property, value) {
  const kind = resolve(schemas, property);
  const wrap = (control, attrs = {}) =>
    h("div", { class: `setting ${attrs.class || ""}`.trim(), dataset: { field: path } }, control, hint(kind), errorSlot());
  if (kind.type === "array" && isObject(resolve(schemas, kind.items))) {
    const rows = rowsControl(schemas, path, name, resolve(schemas, kind.items), value || []);
    return { element: wrap([h("span", { class: "setting-label" }, label(name)), rows.element], { class: "wide" }), read: rows.read };
  }
  if (kind.type === "array" && resolve(schemas, kind.items).type === "string") {
    const list = listControl(path, name, value || []);
    return { element: wrap([h("span", { class: "setting-label" }, label(name)), list.element], { class: "wide" }), read: list.read };
  }
  if (isObject(kind)) {
    const object = objectControl(schemas, path, name, kind, value);
    return { element: wrap(object.element, { class: "wide" }), read: object.read };
  }
  const control = valueControl(schemas, kind, name, value);
  if (kind.type === "boolean") {
    return { element: wrap(h("label", { class: "check" }, control.input, h("span", {}, label(name)))), read: control.read };
  }
  return { element: wrap(h("label", { class: "field" }, h("span", {}, label(name)), control.input), control.json ? { class: "wide" } : {}), read: control.read };
}

// An input for a single value: a checkbox, a choice, a number, text, or JSON for anything else.
function valueControl(schemas, kind, name, value) {
  if (kind.type === "boolean") {
    const input = h("input", { type: "checkbox", name, checked: value === true });
    return { input, read: () => input.checked };
  }
  if (kind.enum) {
    const choices = kind.nullable ? ["", ...kind.enum] : kind.enum;
    const input = h("select", { name }, choices.map((c) => h("option", { value: c, selected: c === (value ?? "") }, c === "" ? "none" : c)));
    return { input, read: () => (input.value === "" ? null : input.value) };
  }
  if (kind.type === "integer" || kind.type === "number") {
    const input = h("input", {
      type: "number",
      name,
      step: kind.type === "integer" ? "1" : "any",
      value: value === null || value === undefined ? "" : String(value),
      placeholder: kind.nullable ? "none" : null,
    });
    return { input, read: () => (input.value.trim() === "" ? null : Number(input.value)) };
  }
  if (kind.type === "string") {
    const input = h("input", { name, value: value ?? "", maxlength: kind.maxLength || null, spellcheck: false });
    return { input, read: () => (kind.nullable && input.value === "" ? null : input.value) };
  }
  const input = h("textarea", { name, rows: 4, spellcheck: false }, JSON.stringify(value ?? null, null, 2));
  return {
    input,
    json: true,
    read: () => {
      try {
        return JSON.parse(input.value || "null");
      } catch (error) {
        throw new FieldError(input.closest("[data-field]").dataset.field, `${label(name)}: not valid JSON (${error.message})`);
      }
    },
  };
}

// An object whose schema names its properties (guardrails, a fallback price) as a nested group of
// settings; a nullable one gets a switch, off meaning none. Open maps (routes) stay JSON.
function objectControl(schemas, path, name, kind, value) {
  const members = Object.entries(kind.properties).map(([key, property]) => {
    const current = value && key in value ? value[key] : resolve(schemas, property).default;
    return { key, ...setting(schemas, `${path}.${key}`, key, property, current) };
  });
  const body = h("div", { class: "subsettings" }, members.map((m) => m.element));
  const read = () => Object.fromEntries(members.map((m) => [m.key, m.read()]));
  if (!kind.nullable) return { element: [h("span", { class: "setting-label" }, label(name)), body], read };
  const on = h("input", { type: "checkbox", name: `${name}.on`, checked: value !== null && value !== undefined });
  body.hidden = !on.checked;
  on.addEventListener("change", () => (body.hidden = !on.checked));
  return {
    element: [h("label", { class: "check switch" }, on, h("span", {}, label(name))), body],
    read: () => (on.checked ? read() : null),
  };
}

// A list of strings (redaction paths, patterns) as one input per item.
function listControl(path, name, values) {
  const items = h("div", { class: "list-items" });
  const renumber = () => [...items.children].forEach((item, i) => (item.dataset.field = `${path}.${i}`));
  const add = (value = "") => {
    const input = h("input", { name, value, spellcheck: false, "aria-label": label(name) });
    const item = h("div", { class: "list-item" }, input, removeButton(() => (item.remove(), renumber())), errorSlot());
    items.append(item);
    renumber();
    return input;
  };
  values.forEach((v) => add(v));
  return {
    element: [items, h("button", { type: "button", class: "secondary small add", onclick: () => add().focus() }, "Add")],
    read: () => [...items.querySelectorAll("input")].map((i) => i.value.trim()).filter(Boolean),
  };
}

// A list of objects (rate-limit rules) as editable rows, one column per property of the item's schema.
function rowsControl(schemas, path, name, item, values) {
  // What the gateway keeps (a rule's counter) has no column: a row is read back with it as it came.
  const kept = Object.entries(item.properties).filter(([, property]) => resolve(schemas, property).readOnly).map(([key]) => key);
  const columns = Object.entries(item.properties)
    .map(([key, property]) => [key, resolve(schemas, property)])
    .filter(([key]) => !kept.includes(key));
  const body = h("tbody");
  const readers = new Map();
  const renumber = () =>
    [...body.children].forEach((row, i) => {
      row.dataset.field = `${path}.${i}`;
      for (const cell of row.querySelectorAll("td[data-key]")) cell.dataset.field = `${path}.${i}.${cell.dataset.key}`;
    });
  const add = (value = {}) => {
    const controls = columns.map(([key, kind]) => [key, valueControl(schemas, kind, key, key in value ? value[key] : kind.default)]);
    const row = h(
      "tr",
      {},
      controls.map(([key, control]) => {
        control.input.setAttribute("aria-label", label(key));
        return h("td", { dataset: { key } }, control.input, errorSlot());
      }),
      h("td", { class: "actions" }, removeButton(() => (row.remove(), readers.delete(row), renumber()))),
    );
    const keptValues = kept.filter((key) => key in value).map((key) => [key, value[key]]);
    readers.set(row, () => Object.fromEntries([...keptValues, ...controls.map(([key, control]) => [key, control.read()])]));
    body.append(row);
    renumber();
    return row;
  };
  values.forEach((v) => add(v));
  const head = h("thead", {}, h("tr", {}, columns.map(([key, kind]) => h("th", { title: kind.description || null }, label(key))), h("th", {})));
  return {
    element: [
      h("div", { class: "rows-wrap" }, h("table", { class: "rows", dataset: { rows: name } }, head, body)),
      h("button", { type: "button", class: "secondary small add", onclick: () => add().querySelector("input, select").focus() }, "Add rule"),
    ],
    read: () => [...body.children].map((row) => readers.get(row)()),
  };
}

function removeButton(onclick) {
  return h("button", { type: "button", class: "icon remove", title: "Remove", "aria-label": "Remove", onclick }, "×");
}

// The description and the limits the schema states, shown under the control.
function hint(kind) {
  const limits = [];
  if (kind.minimum !== undefined) limits.push(`≥ ${kind.minimum}`);
  if (kind.exclusiveMinimum !== undefined) limits.push(`> ${kind.exclusiveMinimum}`);
  if (kind.maximum !== undefined) limits.push(`≤ ${kind.maximum}`);
  if (kind.nullable && kind.type !== "array") limits.push("empty: none");
  const text = [kind.description, limits.join(", ")].filter(Boolean).join(" · ");
  return text ? h("p", { class: "hint muted small" }, text) : null;
}

// A property's schema with `$ref` followed and `anyOf [X, null]` read as a nullable X.
function resolve(schemas, property) {
  let kind = { ...property };
  if (kind.anyOf) {
    const others = kind.anyOf.filter((p) => p.type !== "null");
    if (others.length === 1) kind = { ...kind, ...others[0], nullable: others.length < kind.anyOf.length };
    delete kind.anyOf;
  }
  if (kind.$ref) {
    const target = schemas[kind.$ref.split("/").pop()] || {};
    kind = { ...target, ...kind, description: property.description || target.description };
    delete kind.$ref;
  }
  return kind;
}

function isObject(kind) {
  return kind.type === "object" && kind.properties;
}

// JSON with keys sorted, to compare values whatever order their keys came in.
export function canonical(value) {
  return JSON.stringify(value ?? null, (key, v) =>
    v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}

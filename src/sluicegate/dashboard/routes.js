// A gateway's dynamic routes (docs/routing.md): each edited as JSON and checked by the gateway as
// you type (the error names the path inside the route), drawn as nested boxes, and every saved
// version listed with a button to restore it. A stored route the gateway cannot use (its
// `route_errors`) is marked in the picker and, when shown, explained with the gateway's reason.

import { clear, h, time, toast, whileBusy } from "./dom.js";
import { newestOnly } from "./loads.js";
import { routeErrorNotice } from "./notices.js";
import { canonical } from "./settings-form.js";

const CHECK_DELAY_MS = 250;
// The gateway's rule for a route name (ROUTE_NAME in routing/route.py), checked before the name goes
// in a URL, where the browser would fold a name `.` or `..` away (and call another path).
const ROUTE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const badName = (route) => (ROUTE_NAME.test(route) ? null : `routes.${route}: a route name is 1 to 64 letters, digits, - or _, starting with a letter or digit`);

// `onErrors(route_errors)` after each load, so the gateway's summary follows a fixed route.
// `session` names who saved each version: a token's name rather than its id, where it is known.
export function routesCard(api, slug, onErrors = () => {}, session = null) {
  const path = (name, tail = "") => api.gatewayPath(slug, `/routes/${encodeURIComponent(name)}${tail}`);
  const picker = h("select", { name: "route_pick", "aria-label": "Route", onchange: () => show(picker.value) });
  const name = h("input", { name: "route_name", placeholder: "route name", "aria-label": "Route name", oninput: () => check() });
  const text = h("textarea", { name: "route_json", rows: 12, spellcheck: false, class: "mono", "aria-label": "Route as JSON", oninput: () => check() });
  const status = h("p", { class: "small route-status", role: "status" });
  const broken = h("div", { class: "route-broken" });
  const flow = h("div", { class: "route-flow", "aria-label": "Flow" });
  const versions = h("tbody");
  let routes = [];
  let errors = {}; // route name -> why the gateway cannot use it
  let etag = null; // the gateway's version when the routes were read: a save is made only on it
  let timer = null;
  let asked = 0; // the latest check: older answers arriving late are ignored
  const listings = newestOnly(); // the versions of the route picked last: an earlier pick's come late
  let names = null; // token id -> name, for "By" (listing tokens takes an unlimited admin token)
  const saveButton = h("button", { type: "button", onclick: save }, "Save route");
  // While a load is under way, what is typed would be replaced by the route it shows.
  const loading = (busy) => (name.disabled = text.disabled = saveButton.disabled = busy);

  const say = (message, bad) => {
    clear(status, message);
    status.className = `small route-status ${bad ? "error" : "ok"}`;
  };

  // A change of route `route` (PUT, restore) made only if the gateway is still at the version read
  // (If-Match), or changed since in anything but this route (then over its version now); when the
  // route itself changed meanwhile, nothing is saved and the card says so.
  const change = (route, method, target, body) => {
    const read = routes.find((r) => r.name === route)?.route ?? null;
    const unaffected = (now) => canonical((now.settings.routes || {})[route] ?? null) === canonical(read);
    return api.changeGateway(slug, method, target, { body, etag, unaffected });
  };
  const changedMeanwhile = (route) =>
    say(
      [
        `Route ${route} was changed meanwhile (in another tab, by someone else, or through the API): nothing was saved. `,
        h("button", { type: "button", class: "secondary small", dataset: { action: "reload" }, onclick: () => load(route) }, "Reload the routes"),
        " to see it as it is now.",
      ],
      true,
    );

  const loads = newestOnly(); // a load started after another (a save, a restore) is the one drawn
  const load = (chosen) => loads.run(async (current) => {
    loading(true);
    let listed, gateway;
    try {
      [listed, gateway] = await Promise.all([api.request("GET", api.gatewayPath(slug, "/routes")), api.gateway(slug)]);
    } catch (error) {
      if (!current()) return;
      loading(false);
      return say(error.message, true);
    }
    if (!current()) return;
    routes = listed.result;
    errors = gateway.route_errors || {};
    etag = gateway.etag || null;
    onErrors(errors);
    const option = (r) => (errors[r.name] ? h("option", { value: r.name, dataset: { broken: "" } }, `⚠ ${r.name} (broken)`) : h("option", { value: r.name }, r.name));
    clear(picker, h("option", { value: "" }, "New route…"), routes.map(option));
    // With no route asked for, a broken one first: it is the one needing attention.
    const first = routes.find((r) => errors[r.name]) || routes[0];
    picker.value = routes.some((r) => r.name === chosen) ? chosen : first?.name || "";
    show(picker.value);
    loading(false);
  });

  function show(chosen) {
    const route = routes.find((r) => r.name === chosen);
    name.value = route ? route.name : "";
    name.readOnly = Boolean(route);
    text.value = JSON.stringify(route ? route.route : { model: "openai/gpt-4o-mini" }, null, 2);
    const reason = route && errors[route.name];
    clear(broken, reason ? routeErrorNotice(route.name, reason, "Save a fixed route or restore a working version.") : null);
    check(true);
    showVersions(route ? route.name : "");
  }

  function check(now = false) {
    clearTimeout(timer);
    timer = setTimeout(validate, now ? 0 : CHECK_DELAY_MS);
  }

  // A save or restore says how it went: a check still to come, or on its way, would say "Valid route."
  // over a refusal (the text typed just before the click is checked 250 ms later).
  function dropCheck() {
    clearTimeout(timer);
    asked++;
  }

  async function validate() {
    const mine = ++asked;
    let node;
    try {
      node = JSON.parse(text.value);
    } catch (error) {
      clear(flow);
      return say(`Not JSON: ${error.message}`, true);
    }
    clear(flow, drawing(node, ""));
    if (!name.value) return say("Name the route to check it.", true);
    if (badName(name.value)) return say(badName(name.value), true);
    try {
      await api.request("POST", path(name.value, "/validate"), { body: node });
      if (mine === asked) say("Valid route.", false);
    } catch (error) {
      if (mine === asked) say(error.message, true);
    }
  }

  async function save() {
    let node;
    try {
      node = JSON.parse(text.value);
    } catch (error) {
      return say(`Not JSON: ${error.message}`, true);
    }
    dropCheck();
    if (badName(name.value)) return say(badName(name.value), true);
    // Off until the answer comes: a double click must not save two versions.
    await whileBusy(saveButton, async () => {
      try {
        const saved = await change(name.value, "PUT", path(name.value), node);
        toast(`Route ${saved.name} is now version ${saved.version}`, "success");
        await load(saved.name);
      } catch (error) {
        if (error.status === 412) changedMeanwhile(name.value);
        else say(error.message, true);
      }
    });
  }

  const showVersions = (route) => listings.run(async (current) => {
    if (!route) return clear(versions);
    let listed;
    try {
      [listed] = await Promise.all([api.request("GET", path(route, "/versions")).then((answer) => answer.result), tokenNames()]);
    } catch (error) {
      if (current()) say(error.message, true);
      return;
    }
    if (!current()) return;
    clear(
      versions,
      listed.map((v) =>
        h(
          "tr",
          { dataset: { version: v.version } },
          h("td", { class: "num" }, `${v.version}${v.current ? " (current)" : ""}`),
          h("td", { class: "nowrap" }, time(v.ts)),
          h("td", { class: names?.has(v.actor) ? null : "mono", title: v.actor }, names?.get(v.actor) || v.actor),
          h("td", { class: "mono small" }, v.removed ? "(removed)" : JSON.stringify(v.route)),
          h("td", { class: "actions" }, v.current || v.removed ? null : h("button", { type: "button", class: "small", onclick: (event) => restore(route, v.version, event.currentTarget) }, "Restore")),
        ),
      ),
    );
  });

  // Token names by id, listed once; without the right to list tokens, this session's own name.
  async function tokenNames() {
    if (names) return;
    names = new Map(session && session.id && session.name ? [[session.id, session.name]] : []);
    if (!session || !session.can("admin") || !session.unlimited()) return;
    try {
      for (const t of (await api.get(api.account("/tokens"))).result) names.set(t.id, t.name);
    } catch {
      // no token API, or not allowed: ids are shown
    }
  }

  async function restore(route, version, button) {
    dropCheck();
    await whileBusy(button, async () => {
      try {
        const saved = await change(route, "POST", path(route, `/versions/${version}/restore`));
        toast(`Route ${route} is now version ${saved.version} (the route of version ${version})`, "success");
        await load(route);
      } catch (error) {
        if (error.status === 412) changedMeanwhile(route);
        else say(error.message, true);
      }
    });
  }

  load();
  return h(
    "section",
    { class: "card routes", "aria-label": "Routes" },
    h("h2", {}, "Routes"),
    h("p", { class: "muted small" }, 'Requests with "model": "dynamic/<route>" on the compat endpoint go where the route decides.'),
    h("div", { class: "inline-form" }, picker, name),
    broken,
    text,
    status,
    h("div", { class: "buttons" }, saveButton),
    h("h3", {}, "Flow"),
    flow,
    h("h3", {}, "Versions"),
    h("table", { class: "versions" }, h("thead", {}, h("tr", {}, ["Version", "Saved", "By", "Route", ""].map((c) => h("th", {}, c)))), versions),
  );
}

// A node as nested boxes: targets, splits with their weights, conditions, limits, fallbacks.
function drawing(node, where) {
  const box = (kind, label, ...children) => h("div", { class: `node ${kind}`, dataset: { where: where || "." } }, h("div", { class: "node-label" }, label), ...children);
  const branch = (label, child, at) => h("div", { class: "branch" }, h("span", { class: "branch-label" }, label), drawing(child, at));
  const at = (tail) => (where ? `${where}.${tail}` : tail);
  if (!node || typeof node !== "object" || Array.isArray(node)) return box("bad", "not a node");
  if ("model" in node) {
    const extras = ["timeout_ms", "max_attempts"].filter((k) => k in node).map((k) => `${k} ${node[k]}`);
    return box("target", `→ ${node.model}${extras.length ? ` (${extras.join(", ")})` : ""}`);
  }
  if (Array.isArray(node.split)) {
    const sticky = node.sticky ? ` sticky by ${node.sticky}` : "";
    return box("split", `split${sticky}`, node.split.map((b, i) => branch(`weight ${b?.weight}`, b?.then, at(`split[${i}].then`))));
  }
  if (Array.isArray(node.fallback)) {
    return box("fallback", "fallback, in order", node.fallback.map((n, i) => branch(`${i + 1}.`, n, at(`fallback[${i}]`))));
  }
  if ("if" in node) {
    return box("if", `if ${JSON.stringify(node.if)}`, branch("then", node.then, at("then")), "else" in node ? branch("else", node.else, at("else")) : null);
  }
  if ("limit" in node) {
    const rule = node.limit || {};
    return box(
      "limit",
      `limit ${rule.limit} ${rule.unit || "requests"} per ${rule.period} s${rule.scope ? ` per ${rule.scope}` : ""}`,
      branch("while it holds", node.then, at("then")),
      "else" in node ? branch("once spent", node.else, at("else")) : null,
    );
  }
  return box("bad", `unknown node: ${Object.keys(node).join(", ") || "empty"}`);
}

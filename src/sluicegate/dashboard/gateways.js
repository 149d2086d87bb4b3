// The gateways page: list and create gateways; each one's settings, provider keys and endpoints.

import { clear, h, time, toast, whileBusy } from "./dom.js";
import { endpointsCard } from "./endpoints.js";
import { gatewayEditor } from "./gateway-editor.js";
import { newestOnly } from "./loads.js";
import { routeErrorNotice } from "./notices.js";
import { providerKeysCard } from "./provider-keys.js";
import { routesCard } from "./routes.js";

export function gatewaysPage(context, main) {
  const { api, session } = context;
  const admin = session.can("admin");
  const list = h("div", { class: "card table-card" }, h("p", { class: "muted" }, "Loading…"));
  const editor = h("div");
  // Only the newest list, and the gateway opened last, are drawn: an earlier answer coming late
  // (Edit on one gateway, then on another) does not replace the newer one.
  const lists = newestOnly();
  const opens = newestOnly();
  clear(
    main,
    h("header", { class: "page-head" }, h("h1", {}, "Gateways")),
    admin && session.unlimited() ? createForm() : null,
    list,
    editor,
  );

  function createForm() {
    const name = h("input", { name: "name", required: true, placeholder: "Production", maxlength: 200 });
    // The server's SLUG_PATTERN. Chrome compiles `pattern` with the v flag, where a `-` in a class
    // must be escaped: unescaped, the pattern is invalid, logged as an error, and checks nothing.
    const slug = h("input", { name: "slug", placeholder: "derived from the name", pattern: "[a-z0-9]([a-z0-9\\-]{0,62}[a-z0-9])?" });
    const submit = h("button", { type: "submit" }, "Create gateway");
    return h(
      "form",
      {
        class: "card inline-form",
        "aria-label": "New gateway",
        onsubmit: async (event) => {
          event.preventDefault();
          const form = event.target;
          // The button is off until the answer comes: a double click must not send it twice.
          await whileBusy(submit, async () => {
            let created;
            try {
              created = await api.request("POST", api.account("/gateways"), {
                body: { name: name.value.trim(), ...(slug.value.trim() ? { slug: slug.value.trim() } : {}) },
              });
            } catch (error) {
              toast(error.message, "error");
              return;
            }
            toast(`Gateway ${created.slug} created`, "success");
            form.reset();
            await load();
            open(created.slug, true);
          });
        },
      },
      h("h2", {}, "New gateway"),
      h("label", { class: "field" }, h("span", {}, "Name"), name),
      h("label", { class: "field" }, h("span", {}, "URL slug"), slug),
      submit,
    );
  }

  const load = () => lists.run(async (current) => {
    let gateways;
    try {
      gateways = await api.gateways();
    } catch (error) {
      if (current()) clear(list, h("p", { class: "error" }, `Could not load gateways: ${error.message}`));
      return;
    }
    if (!current()) return;
    clear(
      list,
      h(
        "table",
        { class: "gateways" },
        h("thead", {}, h("tr", {}, ["Name", "Slug", "Cache", "Rate limits", "Logs", "Created", ""].map((c) => h("th", {}, c)))),
        h(
          "tbody",
          {},
          gateways.map((g) =>
            h(
              "tr",
              { dataset: { slug: g.slug } },
              h("td", {}, g.name),
              h("td", { class: "mono" }, g.slug),
              h("td", {}, g.settings.cache_enabled ? `on · ${g.settings.cache_ttl} s` : "off"),
              h("td", {}, g.settings.rate_limits.length ? `${g.settings.rate_limits.length} rule(s)` : "none"),
              h("td", {}, g.settings.collect_logs ? "collected" : "off"),
              h("td", { class: "nowrap" }, time(g.created_at)),
              h(
                "td",
                { class: "actions" },
                h("button", { class: "secondary", onclick: () => open(g.slug, false) }, "Endpoints"),
                admin ? h("button", { class: "secondary", onclick: () => open(g.slug, true) }, "Edit") : null,
              ),
            ),
          ),
        ),
      ),
    );
  });

  // The editor (admins) or the endpoints alone (readers) of one gateway, fresh from the API.
  const open = (slug, editing) => opens.run(async (current) => {
    clear(editor, h("p", { class: "card muted" }, "Loading…"));
    let gateway, urls, schemas;
    try {
      [gateway, urls, schemas] = await Promise.all([api.gateway(slug), api.urls(slug), editing ? api.schemas() : null]);
    } catch (error) {
      if (current()) clear(editor, h("p", { class: "card error" }, `Could not load gateway ${slug}: ${error.message}`));
      return;
    }
    if (!current()) return;
    // Broken routes head the gateway's view, for readers too; the routes card refreshes them after
    // it saves or restores a route.
    const broken = h("div", { class: "route-errors", "aria-label": "Broken routes" });
    const showBroken = (errors) => clear(broken, Object.entries(errors || {}).map(([route, reason]) => routeErrorNotice(route, reason)));
    showBroken(gateway.route_errors);
    const done = {
      saved: (saved) => (load(), open(saved.slug, true)),
      closed: () => clear(editor),
      reload: () => open(slug, true),
      deleted: () => (clear(editor), load()),
    };
    clear(
      editor,
      h(
        "div",
        { class: "gateway-detail" },
        broken,
        editing ? gatewayEditor(api, schemas, gateway, done) : null,
        h(
          "div",
          { class: "side" },
          endpointsCard(urls, gateway),
          editing ? providerKeysCard(api, slug, urls.result.map((u) => u.provider)) : null,
          editing ? routesCard(api, slug, showBroken, session) : null,
        ),
      ),
    );
    // What was opened is below the list, which may be long: bring it into view (the editor's
    // first field takes the focus; the endpoints alone have no field).
    const first = editor.querySelector("input[name=name]");
    if (first) first.focus();
    else editor.scrollIntoView({ block: "start" });
  });

  load();
  return () => (lists.drop(), opens.drop());
}

// The gateways page: list, create, edit settings (cache, rate limits, log collection), delete.

import { clear, h, time, toast } from "./dom.js";

export function gatewaysPage(context, main) {
  const { api, session } = context;
  const admin = session.can("admin");
  const list = h("div", { class: "card table-card" }, h("p", { class: "muted" }, "Loading…"));
  const editor = h("div");
  clear(
    main,
    h("header", { class: "page-head" }, h("h1", {}, "Gateways")),
    admin && session.unlimited() ? createForm() : null,
    list,
    editor,
  );

  function createForm() {
    const name = h("input", { name: "name", required: true, placeholder: "Production", maxlength: 200 });
    const slug = h("input", { name: "slug", placeholder: "derived from the name", pattern: "[a-z0-9]([a-z0-9-]*[a-z0-9])?" });
    return h(
      "form",
      {
        class: "card inline-form",
        "aria-label": "New gateway",
        onsubmit: async (event) => {
          event.preventDefault();
          try {
            const created = await api.request("POST", api.account("/gateways"), {
              body: { name: name.value.trim(), ...(slug.value.trim() ? { slug: slug.value.trim() } : {}) },
            });
            toast(`Gateway ${created.slug} created`, "success");
            event.target.reset();
            await load();
            edit(created);
          } catch (error) {
            toast(error.message, "error");
          }
        },
      },
      h("h2", {}, "New gateway"),
      h("label", { class: "field" }, h("span", {}, "Name"), name),
      h("label", { class: "field" }, h("span", {}, "URL slug"), slug),
      h("button", { type: "submit" }, "Create gateway"),
    );
  }

  async function load() {
    let gateways;
    try {
      gateways = await api.gateways();
    } catch (error) {
      clear(list, h("p", { class: "error" }, `Could not load gateways: ${error.message}`));
      return;
    }
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
              h("td", { class: "actions" }, admin ? h("button", { class: "secondary", onclick: () => edit(g) }, "Edit") : null),
            ),
          ),
        ),
      ),
    );
  }

  function edit(gateway) {
    const s = gateway.settings;
    const input = (name, attrs) => h("input", { name, ...attrs });
    const fields = {
      name: input("name", { value: gateway.name, required: true }),
      cache_enabled: input("cache_enabled", { type: "checkbox", checked: s.cache_enabled }),
      cache_ttl: input("cache_ttl", { type: "number", min: 60, max: 2592000, value: String(s.cache_ttl) }),
      collect_logs: input("collect_logs", { type: "checkbox", checked: s.collect_logs }),
      rate_limits: h("textarea", { name: "rate_limits", rows: 6, spellcheck: false }, JSON.stringify(s.rate_limits, null, 2)),
    };
    const problem = h("p", { class: "error small", hidden: true });
    const save = async (event) => {
      event.preventDefault();
      let rateLimits;
      try {
        rateLimits = JSON.parse(fields.rate_limits.value || "[]");
      } catch (error) {
        problem.hidden = false;
        problem.textContent = `Rate-limit rules are not valid JSON: ${error.message}`;
        return;
      }
      const settings = {
        cache_enabled: fields.cache_enabled.checked,
        cache_ttl: Number(fields.cache_ttl.value),
        collect_logs: fields.collect_logs.checked,
        rate_limits: rateLimits,
      };
      try {
        await api.request("PATCH", api.account(`/gateways/${encodeURIComponent(gateway.slug)}`), {
          body: { name: fields.name.value.trim(), settings },
        });
        toast(`Gateway ${gateway.slug} saved`, "success");
        clear(editor);
        load();
      } catch (error) {
        problem.hidden = false;
        problem.textContent = error.message;
      }
    };
    const remove = async () => {
      if (!confirm(`Delete gateway ${gateway.slug}? Its requests will answer 404.`)) return;
      try {
        await api.request("DELETE", api.account(`/gateways/${encodeURIComponent(gateway.slug)}`));
        toast(`Gateway ${gateway.slug} deleted`, "success");
        clear(editor);
        load();
      } catch (error) {
        toast(error.message, "error");
      }
    };
    clear(
      editor,
      h(
        "form",
        { class: "card editor", "aria-label": `Edit ${gateway.slug}`, onsubmit: save },
        h("h2", {}, "Edit ", h("span", { class: "mono" }, gateway.slug)),
        h("label", { class: "field" }, h("span", {}, "Name"), fields.name),
        h("div", { class: "row" },
          h("label", { class: "field check" }, fields.cache_enabled, h("span", {}, "Cache answers")),
          h("label", { class: "field" }, h("span", {}, "Cache TTL (seconds)"), fields.cache_ttl),
          h("label", { class: "field check" }, fields.collect_logs, h("span", {}, "Collect logs")),
        ),
        h("label", { class: "field" },
          h("span", {}, "Rate-limit rules (JSON list of {limit, period, technique, unit, scope})"),
          fields.rate_limits,
        ),
        problem,
        h("div", { class: "buttons" },
          h("button", { type: "submit" }, "Save"),
          h("button", { type: "button", class: "secondary", onclick: () => clear(editor) }, "Cancel"),
          h("button", { type: "button", class: "danger", onclick: remove }, "Delete gateway"),
        ),
      ),
    );
    fields.name.focus();
  }

  load();
  return () => {};
}

// The tokens page: create a token (its secret is shown once), list them, revoke one.

import { clear, h, time, toast, whileBusy } from "./dom.js";
import { newestOnly } from "./loads.js";

const SCOPES = [
  ["run", "send requests through gateways"],
  ["read", "analytics and logs"],
  ["purge_all", "purge caches"],
  ["feedback", "feedback and scores on log records"],
  ["admin", "everything, including tokens"],
];
const EXPIRY = [["", "Never"], ["86400", "1 day"], ["2592000", "30 days"], ["7776000", "90 days"], ["31536000", "1 year"]];

export function tokensPage(context, main) {
  const { api, session } = context;
  const list = h("div", { class: "card table-card" }, h("p", { class: "muted" }, "Loading…"));
  const secret = h("div");
  const loads = newestOnly(); // a list asked for after a create or a revoke: only the newest is drawn
  clear(main, h("header", { class: "page-head" }, h("h1", {}, "Tokens")), createForm(), secret, list);

  function createForm() {
    const name = h("input", { name: "name", required: true, placeholder: "ci-pipeline", maxlength: 200 });
    // A limited token may only create tokens within its own gateways: offer those.
    const gateways = session.unlimited()
      ? h("input", { name: "gateways", placeholder: "all gateways (or: prod, staging)" })
      : h("input", { name: "gateways", required: true, value: session.gateways.join(", "), placeholder: `some of: ${session.gateways.join(", ")}` });
    const expires = h("select", { name: "expires" }, EXPIRY.map(([value, label]) => h("option", { value }, label)));
    const submit = h("button", { type: "submit" }, "Create token");
    const scopes = SCOPES.map(([scope, note]) =>
      h("label", { class: "field check", title: note }, h("input", { type: "checkbox", name: "scope", value: scope, defaultChecked: scope === "run" }), h("span", {}, scope)),
    );
    return h(
      "form",
      {
        class: "card inline-form",
        "aria-label": "New token",
        onsubmit: async (event) => {
          event.preventDefault();
          const chosen = scopes.map((label) => label.querySelector("input")).filter((box) => box.checked).map((box) => box.value);
          const slugs = gateways.value.split(",").map((s) => s.trim()).filter(Boolean);
          const body = {
            name: name.value.trim(),
            scopes: chosen,
            gateways: slugs.length ? slugs : null,
            expires_at: expires.value ? Math.floor(Date.now() / 1000) + Number(expires.value) : null,
          };
          // The button is off until the answer comes: a double click must not create two tokens.
          await whileBusy(submit, async () => {
            try {
              const created = await api.request("POST", api.account("/tokens"), { body });
              event.target.reset();
              showSecret(created);
              load();
            } catch (error) {
              toast(error.status === 404 ? "This gateway has no token API." : error.message, "error");
            }
          });
        },
      },
      h("h2", {}, "New token"),
      h("label", { class: "field" }, h("span", {}, "Name"), name),
      h("fieldset", { class: "scopes" }, h("legend", {}, "Scopes"), scopes),
      h("label", { class: "field" }, h("span", {}, "Gateways"), gateways),
      h("label", { class: "field" }, h("span", {}, "Expires"), expires),
      submit,
    );
  }

  function showSecret(created) {
    const value = h("code", { class: "secret-value" }, created.token);
    const copy = h("button", {
      class: "secondary",
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(created.token);
          toast("Copied", "success");
        } catch {
          toast("Select the token and copy it by hand", "error");
        }
      },
    }, "Copy");
    clear(
      secret,
      h(
        "div",
        { class: "card callout success secret" },
        h("h2", {}, `Token “${created.name}” created`),
        h("p", {}, "Copy it now: it is shown this once and stored only as a hash."),
        h("div", { class: "secret-row" }, value, copy),
        h("button", { class: "link", onclick: () => clear(secret) }, "I have copied it"),
      ),
    );
  }

  const load = () => loads.run(async (current) => {
    if (!session.unlimited()) {
      const text = `Listing and revoking tokens needs a token not limited to gateways; this one is limited to ${session.gateways.join(", ")}.`;
      clear(list, h("p", { class: "muted", "data-note": "limited" }, text));
      return;
    }
    let tokens;
    try {
      tokens = (await api.get(api.account("/tokens"))).result;
    } catch (error) {
      const text = error.status === 404 ? "This gateway has no token API yet." : `Could not load tokens: ${error.message}`;
      if (current()) clear(list, h("p", { class: "muted" }, text));
      return;
    }
    if (!current()) return;
    const now = Date.now() / 1000;
    // A token past its expiry is refused like a revoked one: it is listed as expired, not revocable.
    const status = (t) => (t.revoked ? "revoked" : t.expires_at !== null && t.expires_at !== undefined && t.expires_at <= now ? "expired" : "active");
    clear(
      list,
      h(
        "table",
        { class: "tokens" },
        h("thead", {}, h("tr", {}, ["Name", "Id", "Scopes", "Gateways", "Expires", "Created", "Status", ""].map((c) => h("th", {}, c)))),
        h(
          "tbody",
          {},
          tokens.map((t) =>
            h(
              "tr",
              { dataset: { id: t.id, status: status(t) }, class: status(t) === "active" ? null : status(t) },
              h("td", {}, t.name, t.id === session.id ? h("span", { class: "tag you" }, "this session") : null),
              h("td", { class: "mono" }, t.id),
              h("td", {}, t.scopes.map((s) => h("span", { class: "tag" }, s))),
              h("td", {}, t.gateways ? t.gateways.join(", ") : "all"),
              h("td", { class: "nowrap" }, t.expires_at ? time(t.expires_at) : "never"),
              h("td", { class: "nowrap" }, time(t.created_at)),
              h("td", { class: "token-status" }, status(t)),
              h("td", { class: "actions" }, status(t) !== "active" || t.id === session.id ? null : h("button", { class: "danger small", onclick: (event) => revoke(t, event.currentTarget) }, "Revoke")),
            ),
          ),
        ),
      ),
    );
  });

  async function revoke(token, button) {
    if (!confirm(`Revoke token ${token.name}? Clients using it get 401 at once.`)) return;
    await whileBusy(button, async () => {
      try {
        await api.request("DELETE", api.account(`/tokens/${encodeURIComponent(token.id)}`));
        toast(`Token ${token.name} revoked`, "success");
        await load();
      } catch (error) {
        toast(error.message, "error");
      }
    });
  }

  load();
  return () => loads.drop();
}

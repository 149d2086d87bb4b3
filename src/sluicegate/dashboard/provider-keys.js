// A gateway's stored provider keys: write-only. A key goes in once (sealed by the gateway) and is
// never shown again; the list shows fingerprints, which tell keys apart without revealing them.

import { clear, h, time, toast } from "./dom.js";

export function providerKeysCard(api, slug, providers) {
  const rows = h("tbody");
  const problem = h("p", { class: "error small", role: "alert", hidden: true });
  const provider = h("select", { name: "key_provider", "aria-label": "Provider" }, providers.map((p) => h("option", { value: p }, p)));
  const key = h("input", { type: "password", name: "provider_key", autocomplete: "off", placeholder: "the provider's API key", "aria-label": "Key" });

  const report = (error) => {
    problem.hidden = false;
    problem.textContent = error.message;
  };

  async function load() {
    try {
      const stored = await api.providerKeys(slug);
      clear(
        rows,
        stored.length
          ? stored.map((k) =>
              h(
                "tr",
                { dataset: { provider: k.provider } },
                h("td", {}, k.provider),
                h("td", { class: "mono fingerprint" }, k.fingerprint),
                h("td", { class: "nowrap" }, time(k.created_at)),
                h("td", { class: "actions" }, h("button", { type: "button", class: "danger small", onclick: () => remove(k.provider) }, "Remove")),
              ),
            )
          : h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No stored keys: requests bring their own.")),
      );
    } catch (error) {
      report(error);
    }
  }

  async function store() {
    problem.hidden = true;
    if (!key.value) return report(new Error("Paste the provider's key first."));
    try {
      const stored = await api.request("PUT", api.gatewayPath(slug, `/provider-keys/${encodeURIComponent(provider.value)}`), {
        body: { key: key.value },
      });
      key.value = "";
      toast(`Key for ${stored.provider} stored (${stored.fingerprint})`, "success");
      load();
    } catch (error) {
      report(error);
    }
  }

  async function remove(name) {
    if (!confirm(`Remove the stored key for ${name}? Requests without a key of their own will fail.`)) return;
    try {
      await api.request("DELETE", api.gatewayPath(slug, `/provider-keys/${encodeURIComponent(name)}`));
      toast(`Key for ${name} removed`, "success");
      load();
    } catch (error) {
      report(error);
    }
  }

  load();
  return h(
    "section",
    { class: "card keys", "aria-label": "Provider keys" },
    h("h2", {}, "Provider keys"),
    h("p", { class: "muted small" }, "Used by requests that bring no key of their own. Stored sealed; never shown again, only a fingerprint."),
    h("table", { class: "keys" }, h("thead", {}, h("tr", {}, ["Provider", "Fingerprint", "Stored", ""].map((c) => h("th", {}, c)))), rows),
    h("div", { class: "inline-form" }, provider, key, h("button", { type: "button", onclick: store }, "Store key")),
    problem,
  );
}

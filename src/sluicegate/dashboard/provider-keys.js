// A gateway's stored provider keys: write-only. A key goes in once (sealed by the gateway) and is
// never shown again; the list shows fingerprints, which tell keys apart without revealing them.
// A provider may hold several named keys (its pool), used by weight; a disabled one can be enabled.

import { clear, h, time, toast, whileBusy } from "./dom.js";
import { newestOnly } from "./loads.js";

// The gateway's rule for a key name (KEY_NAME_PATTERN in routing/keypool.py), checked before the
// name goes in a URL, where the browser would fold a name `.` or `..` away (and call another path).
const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function providerKeysCard(api, slug, providers) {
  const rows = h("tbody");
  const problem = h("p", { class: "error small", role: "alert", hidden: true });
  const provider = h("select", { name: "key_provider", "aria-label": "Provider" }, providers.map((p) => h("option", { value: p }, p)));
  const key = h("input", { type: "password", name: "provider_key", autocomplete: "off", placeholder: "the provider's API key", "aria-label": "Key" });
  const name = h("input", { type: "text", name: "key_name", value: "default", size: 10, "aria-label": "Key name" });
  const weight = h("input", { type: "number", name: "key_weight", min: "0.001", step: "any", placeholder: "weight", size: 6, "aria-label": "Weight" });
  const storeButton = h("button", { type: "button", onclick: () => store() }, "Store key");
  const keyPath = (provider, keyName) => api.gatewayPath(slug, `/provider-keys/${encodeURIComponent(provider)}/${encodeURIComponent(keyName)}`);
  const state = (k) => (k.status === "ok" ? "ok" : `${k.status}${k.until ? ` until ${time(k.until)}` : ""}${k.reason ? ` (${k.reason})` : ""}`);

  const report = (error) => {
    problem.hidden = false;
    clear(problem, error.message);
  };

  const loads = newestOnly(); // after a change, the newest list is the one drawn
  const load = () => loads.run(async (current) => {
    try {
      const stored = await api.providerKeys(slug);
      if (!current()) return;
      clear(
        rows,
        stored.length
          ? stored.map((k) =>
              h(
                "tr",
                { dataset: { provider: k.provider, name: k.name, status: k.status } },
                h("td", {}, k.provider),
                h(
                  "td",
                  {},
                  h("div", { class: "mono" }, k.name),
                  h("div", { class: "mono fingerprint small muted", title: "fingerprint" }, k.fingerprint),
                  h("div", { class: "stored small muted" }, "stored ", time(k.created_at).split(" ").map((part) => [h("span", { class: "nowrap" }, part), " "])),
                ),
                h("td", { class: "num" }, String(k.weight)),
                h("td", { class: `key-state ${k.status}` }, state(k)),
                h(
                  "td",
                  { class: "actions" },
                  k.status === "ok" ? null : h("button", { type: "button", class: "small", onclick: (event) => enable(k, event.currentTarget) }, "Enable"),
                  h("button", { type: "button", class: "danger small", onclick: (event) => remove(k, event.currentTarget) }, "Remove"),
                ),
              ),
            )
          : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No stored keys: requests bring their own.")),
      );
    } catch (error) {
      if (current()) report(error);
    }
  });

  // Each change runs with its button off: a double click sends it once.
  async function store() {
    problem.hidden = true;
    if (!key.value) return report(new Error("Paste the provider's key first."));
    const keyName = name.value || "default";
    if (!KEY_NAME.test(keyName)) return report(new Error(`key name '${keyName}': 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit`));
    await whileBusy(storeButton, async () => {
      try {
        const body = { key: key.value, ...(weight.value ? { weight: Number(weight.value) } : {}) };
        const stored = await api.request("PUT", keyPath(provider.value, keyName), { body });
        key.value = "";
        toast(`Key ${stored.name} for ${stored.provider} stored (${stored.fingerprint})`, "success");
        await load();
      } catch (error) {
        report(error);
      }
    });
  }

  async function remove(k, button) {
    if (!confirm(`Remove the stored key ${k.name} for ${k.provider}? Without another, requests that bring no key of their own will fail.`)) return;
    await whileBusy(button, async () => {
      try {
        await api.request("DELETE", keyPath(k.provider, k.name));
        toast(`Key ${k.name} for ${k.provider} removed`, "success");
        await load();
      } catch (error) {
        report(error);
      }
    });
  }

  async function enable(k, button) {
    await whileBusy(button, async () => {
      try {
        await api.request("PATCH", keyPath(k.provider, k.name), { body: { enabled: true } });
        toast(`Key ${k.name} for ${k.provider} is in use again`, "success");
        await load();
      } catch (error) {
        report(error);
      }
    });
  }

  load();
  return h(
    "section",
    { class: "card keys", "aria-label": "Provider keys" },
    h("h2", {}, "Provider keys"),
    h("p", { class: "muted small" }, "Used by requests that bring no key of their own, spread over a provider's keys by weight. A key the provider says is invalid is disabled; one it rate-limits (429), or refuses for one model, rests. Stored sealed; never shown again, only a fingerprint."),
    // In a narrow card the table scrolls inside it, not the page sideways.
    h("div", { class: "rows-wrap" }, h("table", { class: "keys" }, h("thead", {}, h("tr", {}, ["Provider", "Key", "Weight", "State", ""].map((c) => h("th", {}, c)))), rows)),
    h("div", { class: "inline-form" }, provider, name, weight, key, storeButton),
    problem,
  );
}

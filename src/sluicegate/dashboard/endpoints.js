// Where clients send requests through a gateway: one copyable URL per provider, and a snippet for
// the `openai` SDK (the provider's endpoint, or the compat endpoint with a `provider/` model).

import { ROOT } from "./api.js";
import { clear, h, toast } from "./dom.js";

// `urls` is the API's answer for the gateway (GET …/gateways/{g}/urls), `gateway` the gateway.
export function endpointsCard(urls, gateway) {
  const absolute = (path) => new URL(path.replace(/^\//, ""), ROOT).href;
  const rows = [
    ...urls.result.map((u) => [u.provider, absolute(u.path)]),
    ["compat", absolute(urls.compat_path), "OpenAI's API for every provider: model as provider/model"],
    ["universal", absolute(urls.universal_path), "a list of provider requests tried in order"],
  ];
  const usable = urls.result.filter((u) => u.openai_base_path);
  const choice = h(
    "select",
    { name: "snippet_provider", "aria-label": "Provider", onchange: () => show() },
    usable.map((u) => h("option", { value: u.provider, selected: u.provider === "openai" }, u.provider)),
  );
  const code = h("code", {});
  const snippet = h("pre", { class: "snippet", "aria-label": "openai SDK snippet" }, code);
  const show = () => {
    const entry = usable.find((u) => u.provider === choice.value);
    clear(code, entry ? openaiSnippet(absolute(entry.openai_base_path), entry, gateway.settings.authentication) : "");
  };
  show();
  return h(
    "section",
    { class: "card endpoints", "aria-label": "Endpoints" },
    h("h2", {}, "Endpoints of ", h("span", { class: "mono" }, gateway.slug)),
    h("p", { class: "muted small" }, "Point a client at its provider's URL: it adds the provider's own path (", h("span", { class: "mono" }, "…/openai/chat/completions"), ")."),
    h(
      "div",
      { class: "table-scroll" },
      h(
        "table",
        { class: "endpoints" },
        h("tbody", {}, rows.map(([name, url, note]) => h("tr", { dataset: { provider: name } }, h("td", { title: note || null }, name), h("td", { class: "mono url" }, url), h("td", { class: "actions" }, copyButton(url))))),
      ),
    ),
    h("div", { class: "snippet-head" }, h("h3", {}, "openai SDK (Python)"), choice, copyButton(() => code.textContent, "Copy snippet")),
    snippet,
    gateway.settings.authentication
      ? h("p", { class: "muted small" }, "This gateway asks for a token with the run scope: set SLUICEGATE_TOKEN (see Tokens).")
      : null,
  );
}

export function openaiSnippet(baseUrl, entry, authentication) {
  const variable = `${entry.provider.toUpperCase().replace(/[^A-Z0-9]+/g, "_")}_API_KEY`;
  const model = entry.openai_model_prefix + (entry.provider === "openai" ? "gpt-4o-mini" : "MODEL");
  const lines = [
    "import os",
    "",
    "from openai import OpenAI",
    "",
    "client = OpenAI(",
    `    base_url=${JSON.stringify(baseUrl)},`,
    `    api_key=os.environ[${JSON.stringify(variable)}],`,
    authentication ? `    default_headers={"cf-aig-authorization": "Bearer " + os.environ["SLUICEGATE_TOKEN"]},` : null,
    ")",
    "reply = client.chat.completions.create(",
    `    model=${JSON.stringify(model)},`,
    '    messages=[{"role": "user", "content": "Hello!"}],',
    ")",
    "print(reply.choices[0].message.content)",
  ];
  return lines.filter((line) => line !== null).join("\n") + "\n";
}

// A button that copies `text` (a string, or a function giving it at the time of the click), and
// says "Copied" for a moment.
function copyButton(text, title = "Copy") {
  const button = h(
    "button",
    {
      type: "button",
      class: "secondary small copy",
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(typeof text === "function" ? text() : text);
        } catch {
          return toast("The browser refused the clipboard: select the text and copy it", "error");
        }
        button.textContent = "Copied";
        button.classList.add("done");
        setTimeout(() => ((button.textContent = title), button.classList.remove("done")), 1500);
      },
    },
    title,
  );
  return button;
}

// The dashboard's entry: sign-in, the page frame, and a hash router (#/overview, #/logs, …).

import { Api, ApiError, Session, signIn } from "./api.js";
import { clear, h, whileBusy } from "./dom.js";
import { Filters } from "./filters.js";
import { gatewaysPage } from "./gateways.js";
import { logsPage } from "./logs.js";
import { watchReplica } from "./notices.js";
import { acceleratorPage, overviewPage } from "./overview.js";
import { spendPage } from "./spend.js";
import { tokensPage } from "./tokens.js";

// Each page names the scope it needs; the navigation shows only the pages the token allows.
const PAGES = [
  { path: "overview", title: "Overview", scope: "read", render: overviewPage },
  { path: "accelerator", title: "Accelerator", scope: "read", render: acceleratorPage },
  { path: "logs", title: "Logs", scope: "read", render: logsPage },
  { path: "spend", title: "Spend", scope: "read", render: spendPage },
  { path: "gateways", title: "Gateways", scope: "read", render: gatewaysPage },
  { path: "tokens", title: "Tokens", scope: "admin", render: tokensPage },
];

const root = document.getElementById("app");
const filters = new Filters();
let session = null;
let leave = () => {};

async function boot() {
  const saved = Session.load();
  // Without a saved session there is nothing to check: asking /whoami without a token would be
  // a 401 on every fresh visit. (An open gateway, with no /whoami, is found at the sign-in.)
  if (!saved) return showLogin();
  try {
    // A saved token is checked again: it may have been revoked.
    session = await signIn(saved.token);
    session.save();
  } catch (error) {
    Session.forget();
    return showLogin(saved && error instanceof ApiError ? "Your session ended: sign in again." : "");
  }
  route();
}

function showLogin(message = "") {
  leave();
  leave = () => {};
  session = null;
  const token = h("input", { type: "password", name: "token", autocomplete: "off", placeholder: "sg_…", required: true, autofocus: true });
  const problem = h("p", { class: "error", role: "alert", hidden: !message }, message);
  const submit = h("button", { type: "submit" }, "Sign in");
  clear(
    root,
    h(
      "div",
      { class: "login" },
      h(
        "form",
        {
          class: "card login-card",
          onsubmit: async (event) => {
            event.preventDefault();
            await whileBusy(submit, async () => {
              try {
                session = await signIn(token.value.trim());
              } catch (error) {
                problem.hidden = false;
                clear(problem, error.status === 401 ? "That token is invalid, expired or revoked." : `Could not sign in: ${error.message}`);
                return;
              }
              session.save();
              location.hash = `#/${firstPage()}`;
              route();
            });
          },
        },
        h("div", { class: "brand large" }, h("img", { src: "favicon.svg", alt: "" }), "Sluicegate"),
        h("p", { class: "muted" }, "Sign in with an API token. It is kept in this tab only."),
        h("label", { class: "field" }, h("span", {}, "Token"), token),
        problem,
        submit,
      ),
    ),
  );
}

function signOut() {
  Session.forget();
  location.hash = "";
  showLogin();
}

function firstPage() {
  const page = PAGES.find((p) => session.can(p.scope));
  return page ? page.path : "none";
}

function route() {
  if (!session) return showLogin();
  const path = location.hash.replace(/^#\/?/, "") || firstPage();
  const page = PAGES.find((p) => p.path === path && session.can(p.scope));
  leave();
  const main = h("main", { class: "main" });
  const notices = h("div", { class: "notices" });
  clear(root, h("div", { class: "shell" }, sidebar(page), h("div", { class: "column" }, notices, main)));
  if (!page) {
    const asked = PAGES.find((p) => p.path === path);
    const scopes = session.scopes.join(", ") || "none";
    const why = asked
      ? [`The ${asked.title} page needs the ${asked.scope} scope; this token's scopes are ${scopes}. `, firstPage() === "none" ? null : h("a", { href: `#/${firstPage()}` }, "Go to a page it allows")]
      : firstPage() === "none"
        ? `This token's scopes (${scopes}) allow no dashboard page.`
        : ["There is no such page. ", h("a", { href: `#/${firstPage()}` }, "Go to the first page")];
    clear(main, h("div", { class: "card" }, h("h1", {}, "Nothing to show"), h("p", { class: "why" }, why)));
    leave = () => {};
    return;
  }
  document.title = `${page.title} · Sluicegate`;
  const api = new Api(session, (message) => {
    Session.forget();
    showLogin(`Signed out: ${message}`);
  });
  const stopWatching = watchReplica(api, notices);
  const leavePage = page.render({ api, session, filters }, main) || (() => {});
  leave = () => {
    stopWatching();
    leavePage();
  };
}

function sidebar(current) {
  return h(
    "nav",
    { class: "sidebar", "aria-label": "Sections" },
    h("div", { class: "brand" }, h("img", { src: "favicon.svg", alt: "" }), "Sluicegate"),
    h(
      "ul",
      {},
      PAGES.filter((p) => session.can(p.scope)).map((p) =>
        h("li", {}, h("a", { href: `#/${p.path}`, class: p === current ? "active" : null, "aria-current": p === current ? "page" : null }, p.title)),
      ),
    ),
    h(
      "div",
      { class: "who" },
      session.open
        ? h("div", { class: "open-mode", title: "The admin API of this gateway asks for no token" }, "Open gateway")
        : h("div", {}, h("div", { class: "muted small" }, `Account ${session.account}`), h("div", { class: "small" }, session.name || "token"), h("div", { class: "who-scopes small" }, session.scopes.join(" · "))),
      session.open ? null : h("button", { class: "link", onclick: signOut }, "Sign out"),
    ),
  );
}

window.addEventListener("hashchange", () => session && route());
boot();

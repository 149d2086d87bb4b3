// The admin API client and the signed-in session.
//
// Every call carries `Authorization: Bearer <token>`. The session (token, account, scopes,
// gateways) lives in sessionStorage: it ends with the tab, and is never written to a cookie.
// A gateway without the admin API's authentication (no /whoami: 404) runs in "open" mode,
// where the dashboard acts with every scope.

const KEY = "sluicegate.session";
const BASE = new URL("../api/v1/", document.baseURI);
// The gateway's own root (the dashboard is at <root>/dashboard/, also behind a proxy's prefix).
export const ROOT = new URL("../", document.baseURI);

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }

  // The input the API says is wrong: a body field path ("settings.rate_limits.0.limit") or a
  // query parameter; "" when it names none.
  get field() {
    const error = (this.body && this.body.error) || {};
    return error.field || error.param || "";
  }
}

export class Session {
  constructor({ token = "", account = "local", scopes = [], gateways = null, open = false, name = "", id = "" }) {
    Object.assign(this, { token, account, scopes, gateways, open, name, id });
  }

  static load() {
    const saved = sessionStorage.getItem(KEY);
    return saved ? new Session(JSON.parse(saved)) : null;
  }

  save() {
    sessionStorage.setItem(KEY, JSON.stringify(this));
  }

  static forget() {
    sessionStorage.removeItem(KEY);
  }

  can(scope) {
    return this.scopes.includes("admin") || this.scopes.includes(scope);
  }

  // A token limited to some gateways acts on those alone: the account-wide routes (listing and
  // revoking tokens, creating gateways, the audit trail) answer it 403, so their controls hide.
  unlimited() {
    return this.gateways === null || this.gateways === undefined;
  }
}

// Checks a token with GET /whoami: a Session, or an ApiError (401: bad token).
export async function signIn(token) {
  const response = await fetch(new URL("whoami", BASE), {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  if (response.status === 404) {
    return new Session({ open: true, scopes: ["admin"], name: "open gateway" });
  }
  const body = await readBody(response);
  if (!response.ok) throw new ApiError(response.status, errorMessage(response, body), body);
  return new Session({
    token,
    account: body.account,
    scopes: body.scopes,
    gateways: body.gateways,
    name: body.name || body.id || "",
    id: body.id || "",
  });
}

export class Api {
  constructor(session, onUnauthorized) {
    this.session = session;
    this.onUnauthorized = onUnauthorized;
  }

  account(path = "") {
    return `accounts/${encodeURIComponent(this.session.account)}${path}`;
  }

  // `optional`: a call the page can do without (the replica's status), whose 401 (say, a gateway
  // in front that answers only the account routes) must not sign the user out. `ifMatch`: the
  // gateway's ETag as read, so that a change is made only if nobody changed it since (else a 412).
  async request(method, path, { params, body, optional = false, ifMatch = null } = {}) {
    const url = new URL(path, BASE);
    for (const [name, value] of Object.entries(params || {})) {
      if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, value);
    }
    const headers = {};
    if (this.session.token) headers.Authorization = `Bearer ${this.session.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (ifMatch) headers["If-Match"] = ifMatch;
    const response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await readBody(response);
    if (response.status === 401 && !optional) this.onUnauthorized(errorMessage(response, data));
    if (!response.ok) throw new ApiError(response.status, errorMessage(response, data), data);
    return data;
  }

  get(path, params) {
    return this.request("GET", path, { params });
  }

  // The answering replica's state (GET /status): what the notices over every page show.
  status() {
    return this.request("GET", "status", { optional: true });
  }

  analytics(params) {
    return this.get(this.account("/analytics"), params);
  }

  // The semantic cache's threshold what-if and shadow precision (no provider or model filter).
  semanticReport(params) {
    return this.get(this.account("/analytics/semantic"), { from: params.from, to: params.to, gateway: params.gateway });
  }

  gateways() {
    return this.get(this.account("/gateways")).then((data) => data.result);
  }

  gateway(slug) {
    return this.get(this.gatewayPath(slug));
  }

  gatewayPath(slug, path = "") {
    return this.account(`/gateways/${encodeURIComponent(slug)}${path}`);
  }

  // Every gateway's records the token reaches (`params.gateway` picks one), newest first.
  logs(params) {
    return this.get(this.account("/logs"), params);
  }

  urls(slug) {
    return this.get(this.gatewayPath(slug, "/urls"));
  }

  providerKeys(slug) {
    return this.get(this.gatewayPath(slug, "/provider-keys")).then((data) => data.result);
  }

  // The admin API's own schemas (OpenAPI components), fetched once: the settings form is built
  // from them, so a setting added to the API appears in the form without a change here.
  schemas() {
    this.schemaRequest ||= this.get("openapi.json").then((doc) => doc.components.schemas);
    return this.schemaRequest;
  }

  log(gateway, id) {
    return this.get(this.gatewayPath(gateway, `/logs/${encodeURIComponent(id)}`));
  }

  // A change to gateway `slug` made only if it is still at version `etag` (the one the screen
  // shows). When it changed meanwhile (a 412), the change is sent again, on the version it has
  // now, if `unaffected(gateway now)` says what changed is nothing this change is about (the Routes
  // card saved a route, and the settings form saves its cache TTL); otherwise the 412 is thrown,
  // and nothing was saved.
  async changeGateway(slug, method, path, { body, etag, unaffected }) {
    try {
      return await this.request(method, path, { body, ifMatch: etag });
    } catch (error) {
      if (error.status !== 412) throw error;
      const now = await this.gateway(slug);
      if (!unaffected(now)) throw error;
      return this.request(method, path, { body, ifMatch: now.etag });
    }
  }
}

async function readBody(response) {
  if (response.status === 204) return null;
  const text = await response.text();
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return text;
  }
}

function errorMessage(response, body) {
  const message = body && body.error && body.error.message;
  return message || `${response.status} ${response.statusText}`;
}

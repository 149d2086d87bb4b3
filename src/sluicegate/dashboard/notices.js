// Notices over every page about the replica that answers (GET /status): log records waiting on
// disk for the database, records dropped because the spool was full, Redis unreachable. The
// records are safe, but logs and analytics lack them until the database takes them.

import { clear, count, h, percent, time } from "./dom.js";

const EVERY_MS = 10000;

// Checks now and every EVERY_MS; returns the function that stops it.
export function watchReplica(api, container) {
  let timer = null;
  let stopped = false;
  async function check() {
    try {
      render(container, await api.status());
    } catch {
      clear(container); // an unreachable gateway shows in the page's own errors
    }
    if (!stopped) timer = setTimeout(check, EVERY_MS);
  }
  check();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function render(container, status) {
  const spool = status.log_spool;
  const notices = [];
  if (spool.behind) {
    const waiting = `${count(spool.backlog_records)} log records (${bytes(spool.backlog_bytes)}, ${percent(spool.backlog_bytes, spool.max_bytes)} of the spool's limit)`;
    const why = spool.failing_since
      ? `The database has not taken log records since ${time(spool.failing_since)}: ${waiting} wait on this replica's disk.`
      : `The database is not keeping up: ${waiting} wait on this replica's disk.`;
    notices.push(
      notice("log-backlog", why, " They are stored once it takes them; until then logs and analytics lack them. Past the limit the oldest are dropped."),
    );
  }
  if (spool.spool_failing_since) {
    notices.push(notice("log-spool-failing", `This replica cannot write its log spool since ${time(spool.spool_failing_since)} (is its disk full?): ${count(spool.memory_records || 0)} log records are kept in memory, lost if it is killed.`));
  }
  if (spool.dropped_records) {
    const why = spool.dropped_from_memory
      ? `${count(spool.dropped_from_memory)} of them from memory, as the spool could not be written`
      : "its spool was full (log_spool_max_bytes)";
    notices.push(notice("log-dropped", `${count(spool.dropped_records)} log records were dropped since this replica started: ${why}.`));
  }
  if (status.redis_unreachable) {
    notices.push(notice("redis", "Redis is unreachable: the caches are bypassed and rate limits follow rate_limit_failure until it is back."));
  }
  clear(container, notices);
}

function notice(kind, ...text) {
  return h("div", { class: "callout warning notice", role: "status", dataset: { notice: kind } }, ...text);
}

// A gateway's stored dynamic route that cannot be used (`route_errors` of GET …/gateways/{g}, the
// problems by path): requests naming it get the gateway's 500 route_misconfigured, so without this
// the operator would learn of it only from failing requests. `advice` follows the reason.
export function routeErrorNotice(route, reason, advice = null) {
  const element = notice(
    "route-error",
    "Route ",
    h("strong", { class: "mono" }, route),
    " is broken: requests naming ",
    h("span", { class: "mono" }, `dynamic/${route}`),
    " get a 500 route_misconfigured. ",
    h("span", { class: "mono reason" }, reason),
    advice ? ` ${advice}` : null,
  );
  element.dataset.route = route;
  return element;
}

function bytes(value) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let size = value;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return `${size.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

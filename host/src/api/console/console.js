// The hookgate console: a page over the admin API, nothing else. The admin token lives in
// this tab's sessionStorage and travels only in the Authorization header, never in a URL.
// Everything the API returns is put into the page as text (no innerHTML), so stored data
// cannot script the console.
"use strict";

const TOKEN_KEY = "hookgate.token";
const main = document.getElementById("main");
let session = null; // {name, scope} of the signed-in token
let refreshTimer = null;

// ---- small helpers ------------------------------------------------------------------------

/** Builds an element: h("td", {class: "x"}, "text", childNode, ...). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value == null) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces the children of `el` (arrays flattened, null and false left out). */
function fill(el, ...children) {
  el.replaceChildren(...children.flat(2).filter((c) => c != null && c !== false));
}

function showError(text) {
  const box = document.getElementById("error");
  box.textContent = text || "";
  box.hidden = !text;
}

/** An API error in words: the code's meaning and the gateway's message. */
class ApiError extends Error {
  constructor(status, code, message) {
    super(`${message} (${code}, HTTP ${status})`);
    this.status = status;
    this.code = code;
    this.detail = message;
  }
}

async function api(method, path, body, contentType) {
  const headers = { authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ""}` };
  if (body !== undefined) headers["content-type"] = contentType || "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined || contentType ? body : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, "unreachable", `the gateway did not answer: ${e.message}`);
  }
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { /* not JSON: /metrics */ }
  if (!response.ok) {
    const error = (json && json.error) || { code: `http_${response.status}`, message: text || response.statusText };
    if (response.status === 401) signOut("The token is not valid any more: sign in again.");
    throw new ApiError(response.status, error.code, error.message);
  }
  return json === null ? text : json;
}

/** Runs an action, showing its error in words instead of failing silently. */
async function attempt(action) {
  showError("");
  try { await action(); } catch (e) { showError(e.message); }
}

const canChange = () => session && session.scope === "admin";
const READ_ONLY = "Your token is read-only: it can look at everything and change nothing.";

/** A button that is disabled, with the reason as its tooltip, for a read-only token. */
function changeButton(label, onclick, attrs) {
  return h("button", { ...attrs, onclick, disabled: !canChange(), title: canChange() ? null : READ_ONLY }, label);
}

function statusCell(status) {
  return h("span", { class: `status-${status}` }, status);
}

// ---- sign in ------------------------------------------------------------------------------

function signInPage(reason) {
  const token = h("input", { type: "password", name: "token", autocomplete: "current-password", size: 48, required: true });
  fill(main,
    h("h2", {}, "Sign in"),
    h("p", { class: "muted" }, "With an admin token: the one in hookgate-data/admin-token, HOOKGATE_ADMIN_TOKEN, or one of --admin-tokens-file."),
    reason ? h("p", { class: "field-error" }, reason) : null,
    h("form", {
      id: "signin",
      onsubmit: (event) => {
        event.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, token.value.trim());
        attempt(start);
      },
    }, h("label", {}, "Admin token", token), h("p", {}, h("button", { class: "primary", type: "submit" }, "Sign in"))),
  );
}

function signOut(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  session = null;
  document.getElementById("nav").hidden = true;
  fill(document.getElementById("who"));
  signInPage(reason);
}

async function start() {
  if (!sessionStorage.getItem(TOKEN_KEY)) return signInPage();
  session = await api("GET", "/v1/admin/whoami");
  document.getElementById("nav").hidden = false;
  fill(document.getElementById("who"),
    `${session.name} (${session.scope === "admin" ? "admin" : "read-only"}) `,
    h("button", { onclick: () => signOut() }, "Sign out"),
  );
  if (!location.hash || location.hash === "#/") location.hash = "#/messages";
  else route();
}

// ---- messages -----------------------------------------------------------------------------

function deliveriesSummary(message) {
  return message.deliveries.map((d) => `${d.target}: ${d.status}`).join(", ");
}

async function messagesPage(params) {
  const filters = new URLSearchParams(params);
  const field = (name, label, attrs) => h("label", {}, label, h("input", { name, value: filters.get(name) || "", ...attrs }));
  const status = h("select", { name: "status" }, ["", "pending", "delivered", "failed", "skipped"].map((s) =>
    h("option", { value: s, selected: filters.get("status") === s }, s || "any")));
  const live = h("input", { type: "checkbox", name: "live", checked: filters.get("live") === "1" });
  const form = h("form", {
    class: "filters",
    onsubmit: (event) => {
      event.preventDefault();
      const next = new URLSearchParams();
      for (const [key, value] of new FormData(form)) if (value) next.set(key, key === "live" ? "1" : value);
      location.hash = `#/messages?${next}`;
    },
  },
  field("event_id", "Event"), h("label", {}, "Status", status), field("target", "Target"),
  field("since", "Since (RFC 3339 or Unix ms)", { placeholder: "2026-12-01T00:00:00Z" }), field("until", "Until"),
  h("label", {}, "Live refresh", live), h("button", { class: "primary", type: "submit" }, "Filter"));

  const query = new URLSearchParams(filters);
  query.delete("live");
  const page = await api("GET", `/v1/admin/messages?${query}`);
  const rows = page.messages.map((m) => h("tr", {},
    h("td", {}, h("a", { href: `#/message/${encodeURIComponent(m.message_id)}` }, m.message_id)),
    h("td", {}, m.event_id), h("td", {}, m.received_at), h("td", {}, statusCell(m.status)),
    h("td", {}, deliveriesSummary(m))));
  const next = page.next_cursor ? (() => {
    const more = new URLSearchParams(filters);
    more.set("cursor", page.next_cursor);
    return h("a", { href: `#/messages?${more}` }, "Older messages →");
  })() : null;
  fill(main,
    h("h2", {}, "Messages"), form,
    h("table", { id: "messages" }, h("tr", {}, ["Message", "Event", "Received", "Status", "Deliveries"].map((t) => h("th", {}, t))), rows),
    rows.length ? null : h("p", { class: "muted" }, "No message matches (a rare filter may need the next page)."),
    h("p", {}, next));
  if (live.checked) refreshTimer = setTimeout(route, 2000);
}

function attemptView(a, i) {
  const error = a.error ? h("p", { class: "field-error" }, `${a.error.code}: ${a.error.message}`) : null;
  return h("div", { class: "card" },
    h("strong", {}, `Attempt ${i + 1}`), " ", h("span", { class: "muted" }, `${a.at}, ${a.duration_ms} ms`),
    a.status_code != null ? ` → HTTP ${a.status_code}` : "",
    error,
    a.request ? [h("div", { class: "muted" }, "Request"), h("pre", {}, `${a.request.method} ${a.request.url}\n${
      a.request.headers.map(([k, v]) => `${k}: ${v}`).join("\n")}\n\n${a.request.body_excerpt}`)] : null,
    a.response_excerpt != null ? [h("div", { class: "muted" }, "Response"), h("pre", {}, a.response_excerpt)] : null,
    a.guest_logs && a.guest_logs.length ? [h("div", { class: "muted" }, "Guest logs"),
      h("pre", {}, a.guest_logs.map((l) => `[${l.level}] ${l.message}`).join("\n"))] : null);
}

async function messagePage(id) {
  const m = await api("GET", `/v1/admin/messages/${encodeURIComponent(id)}`);
  const failed = m.deliveries.some((d) => d.status === "failed");
  fill(main,
    h("h2", {}, `Message ${m.message_id}`),
    h("dl", {}, h("dt", {}, "Event"), h("dd", {}, m.event_id), h("dt", {}, "Received"), h("dd", {}, m.received_at),
      h("dt", {}, "Status"), h("dd", { id: "message-status" }, statusCell(m.status)),
      h("dt", {}, "Body"), h("dd", {}, `${m.body_size} bytes, ${m.content_type || "no content type"}`)),
    failed ? h("p", {}, changeButton("Retry failed deliveries", () => attempt(async () => {
      await api("POST", `/v1/admin/messages/${encodeURIComponent(id)}/retry`);
      setTimeout(route, 500);
    }), { id: "retry", class: "primary" })) : null,
    m.deliveries.map((d) => h("section", { "data-target": d.target },
      h("h3", {}, `Target ${d.target}: `, statusCell(d.status)),
      d.reason ? h("p", { class: "reason" }, d.reason) : null,
      d.ordering_key != null ? h("p", { class: "muted" }, `Ordering key: ${d.ordering_key}`) : null,
      d.holds_key ? h("p", {}, "It holds its ordering key: the key's later deliveries wait until it is retried or skipped. ",
        changeButton("Skip it", () => attempt(async () => {
          await api("POST", `/v1/admin/messages/${encodeURIComponent(id)}/deliveries/${encodeURIComponent(d.target)}/skip`);
          route();
        }), { class: "skip" })) : null,
      d.attempts.length ? d.attempts.map(attemptView) : h("p", { class: "muted" }, "No attempt yet."))));
}

// ---- events -------------------------------------------------------------------------------

/** PUT of a config read back (secrets masked: the gateway keeps them). */
async function putEvent(id, config) {
  const body = { ...config };
  delete body.id;
  return api("PUT", `/v1/admin/events/${encodeURIComponent(id)}`, body);
}

async function eventsPage() {
  const { events } = await api("GET", "/v1/admin/events");
  const rows = events.map((e) => h("tr", {},
    h("td", {}, h("a", { href: `#/event/${encodeURIComponent(e.id)}` }, e.id)),
    h("td", {}, e.enabled ? "on" : "off"),
    h("td", {}, e.targets.map((t) => `${t.id}${t.enabled ? "" : " (off)"}`).join(", ")),
    h("td", {}, changeButton(e.enabled ? "Turn off" : "Turn on", () => attempt(async () => {
      await putEvent(e.id, { ...e, enabled: !e.enabled });
      route();
    }), { "data-event": e.id }))));
  fill(main, h("h2", {}, "Events"),
    h("table", { id: "events" }, h("tr", {}, ["Event", "State", "Targets", ""].map((t) => h("th", {}, t))), rows),
    events.length ? null : h("p", { class: "muted" }, "No event is configured yet."));
}

/** The target index an error message names (`targets[2].url: ...`), if any. */
function targetNamed(message) {
  const match = /targets\[(\d+)\]/.exec(message);
  return match ? Number(match[1]) : null;
}

async function eventPage(id) {
  const config = await api("GET", `/v1/admin/events/${encodeURIComponent(id)}`);
  const editor = h("textarea", { id: "config", spellcheck: "false", readonly: !canChange() });
  const shown = { ...config };
  delete shown.id;
  editor.value = JSON.stringify(shown, null, 2);
  const fieldError = h("p", { id: "config-error", class: "field-error", hidden: true });
  const cards = config.targets.map((t, i) => h("div", { class: "card", "data-target": i },
    h("strong", {}, `Target ${t.id}`), ` ${t.method || ""} ${t.url} `, h("span", { class: "muted" }, t.enabled ? "on" : "off"), " ",
    changeButton(t.enabled ? "Turn target off" : "Turn target on", () => attempt(async () => {
      const targets = config.targets.map((x, j) => (j === i ? { ...x, enabled: !x.enabled } : x));
      await putEvent(id, { ...config, targets });
      route();
    })),
    h("p", { class: "field-error target-error", hidden: true })));
  const save = changeButton("Save", () => attempt(async () => {
    fieldError.hidden = true;
    for (const card of cards) { card.classList.remove("invalid"); card.querySelector(".target-error").hidden = true; }
    let parsed;
    try { parsed = JSON.parse(editor.value); } catch (e) {
      fieldError.textContent = `Not JSON: ${e.message}`;
      fieldError.hidden = false;
      return;
    }
    try {
      await putEvent(id, parsed);
      route();
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 400) throw e;
      // Next to the field it names: the target's card when it names a target, and the editor.
      fieldError.textContent = `${e.detail} (${e.code})`;
      fieldError.hidden = false;
      const index = targetNamed(e.detail);
      if (index !== null && cards[index]) {
        cards[index].classList.add("invalid");
        const note = cards[index].querySelector(".target-error");
        note.textContent = e.detail;
        note.hidden = false;
      }
    }
  }), { id: "save", class: "primary" });
  fill(main, h("h2", {}, `Event ${id}: ${config.enabled ? "on" : "off"}`), cards,
    h("h3", {}, "Configuration"), fieldError, editor, h("p", {}, save));
}

// ---- components ---------------------------------------------------------------------------

/** "name" or "name@N" of every binding, per event. */
function bindings(events) {
  const found = [];
  for (const e of events) {
    const add = (role, binding) => binding && found.push({ event: e.id, role, component: binding.component });
    add("authenticator", e.authenticator);
    for (const t of e.targets) { add(`${t.id}.transformer`, t.transformer); add(`${t.id}.condition`, t.condition); }
  }
  return found;
}

async function componentsPage() {
  const [{ components }, { events }] = await Promise.all([api("GET", "/v1/admin/components"), api("GET", "/v1/admin/events")]);
  const used = bindings(events);
  const name = h("input", { name: "name", required: true, placeholder: "adobe-to-json" });
  const file = h("input", { type: "file", name: "wasm", accept: ".wasm", required: true });
  const upload = h("form", {
    id: "upload",
    class: "filters",
    onsubmit: (event) => {
      event.preventDefault();
      attempt(async () => {
        const bytes = await file.files[0].arrayBuffer();
        await api("PUT", `/v1/admin/components/${encodeURIComponent(name.value.trim())}`, bytes, "application/wasm");
        route();
      });
    },
  }, h("label", {}, "Name", name), h("label", {}, "Component (.wasm)", file),
  h("button", { class: "primary", type: "submit", disabled: !canChange(), title: canChange() ? null : READ_ONLY }, "Upload"));
  const rows = components.flatMap((c) => c.versions.map((v) => {
    const users = used.filter((b) => b.component === `${c.name}@${v.version}` ||
      (b.component === c.name && v.version === c.version));
    return h("tr", {}, h("td", {}, c.name), h("td", {}, v.version), h("td", {}, v.world), h("td", {}, v.size),
      h("td", { class: "muted" }, v.sha256.slice(0, 16)), h("td", {}, users.map((u) => `${u.event} (${u.role})`).join(", ") || "—"),
      h("td", {}, h("button", { onclick: () => dryRunForm(c, v, used) }, "Dry run")));
  }));
  fill(main, h("h2", {}, "Components"), upload,
    h("table", { id: "components" }, h("tr", {}, ["Name", "Version", "World", "Bytes", "sha256", "Bound by", ""].map((t) => h("th", {}, t))), rows),
    h("div", { id: "dry-run" }));
}

function dryRunForm(component, version, used) {
  const events = [...new Set(used.filter((b) => b.component.split("@")[0] === component.name).map((b) => b.event))];
  const box = document.getElementById("dry-run");
  if (!events.length) return fill(box, h("p", { class: "muted" }, `No event binds ${component.name}: nothing to compare with.`));
  const event = h("select", {}, events.map((e) => h("option", { value: e }, e)));
  const last = h("input", { type: "number", value: 20, min: 1, max: 1000 });
  const results = h("div");
  fill(box, h("h3", {}, `Dry run of ${component.name}@${version.version}`),
    h("label", {}, "Over the recent traffic of", event), h("label", {}, "Messages", last),
    h("button", { class: "primary", onclick: () => attempt(async () => {
      const report = await api("POST", `/v1/admin/components/${encodeURIComponent(component.name)}/dry-run`,
        { version: version.version, event_id: event.value, last: Number(last.value) });
      fill(results, h("p", {}, `${report.compared} compared, ${report.differing} differ.`),
        report.results.map((r) => h("div", { class: `card${r.differs ? " differs" : ""}` },
          h("strong", {}, `${r.message_id} ${r.binding}`), r.differs ? " differs" : " same",
          r.error ? h("p", { class: "field-error" }, `${r.error.code}: ${r.error.message}`) : h("div", { class: "side" },
            h("div", {}, h("div", { class: "muted" }, "In use"), h("pre", {}, JSON.stringify(r.current, null, 2))),
            h("div", {}, h("div", { class: "muted" }, "Candidate"), h("pre", {}, JSON.stringify(r.candidate, null, 2)))))));
    }) }, "Compare"), results);
}

// ---- health -------------------------------------------------------------------------------

/** Samples of one metric family from the OpenMetrics text: [{labels, value}]. */
function samples(text, name) {
  return text.split("\n").filter((l) => l.startsWith(name)).map((l) => {
    const match = /^([a-z_]+)(\{[^}]*\})?\s+(\S+)/.exec(l);
    return match && match[1] === name ? { labels: match[2] || "", value: Number(match[3]) } : null;
  }).filter(Boolean);
}

/** The labels of a sample, `{event="a",target="b"}`, as an object. */
function labelsOf(text) {
  const labels = {};
  for (const [, key, value] of text.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value.replace(/\\(.)/g, "$1");
  return labels;
}

const BREAKER_WORDS = { closed: "closed", open: "open", half_open: "half-open" };

async function healthPage() {
  const [stats, metrics, { node, targets }, { nodes }] = await Promise.all([api("GET", "/v1/admin/stats"), api("GET", "/metrics"),
    api("GET", "/v1/admin/targets"), api("GET", "/v1/admin/cluster")]);
  const oldest = samples(metrics, "hookgate_oldest_pending_age_seconds")[0];
  const failedDeliveries = {};
  for (const s of samples(metrics, "hookgate_deliveries_total")) {
    const labels = labelsOf(s.labels);
    if (labels.outcome === "failed") failedDeliveries[`${labels.event}/${labels.target}`] = s.value;
  }
  // Failing: a breaker not closed, attempts failing now, or deliveries that failed for good.
  const failing = targets.map((t) => ({ ...t, failed: failedDeliveries[`${t.event_id}/${t.target_id}`] || 0 }))
    .filter((t) => t.breaker !== "closed" || t.consecutive_failures > 0 || t.failed > 0);
  fill(main, h("h2", {}, "Health"),
    h("dl", { id: "health" },
      h("dt", {}, "Pending deliveries (queue depth)"), h("dd", {}, stats.pending_deliveries),
      h("dt", {}, "Oldest pending delivery"), h("dd", {}, oldest ? `${oldest.value.toFixed(1)} s old` : "none"),
      h("dt", {}, "Messages stored"), h("dd", {}, stats.messages),
      h("dt", {}, "Store size"), h("dd", {}, `${(stats.store_bytes / 1048576).toFixed(1)} MiB`),
      h("dt", {}, "Retention"), h("dd", {}, `${Math.round(stats.retention_seconds / 86400)} days`)),
    h("h3", {}, "Failing targets"),
    h("p", { class: "muted" }, `Circuit breakers as node ${node} sees them: each node keeps its own. Failed deliveries counted since this node started.`),
    failing.length ? h("table", { id: "targets" },
      h("tr", {}, ["Event", "Target", "Circuit breaker", "Failures in a row", "Next probe", "Failed deliveries"].map((t) => h("th", {}, t))),
      failing.map((t) => h("tr", { "data-target": `${t.event_id}/${t.target_id}` },
        h("td", {}, t.event_id), h("td", {}, t.target_id),
        h("td", { class: `breaker breaker-${t.breaker}` }, BREAKER_WORDS[t.breaker] || t.breaker),
        h("td", {}, t.consecutive_failures), h("td", {}, t.probe_at || "—"), h("td", {}, t.failed))))
      : h("p", { class: "muted" }, "None."),
    h("h3", {}, "Nodes"),
    h("table", { id: "nodes" },
      h("tr", {}, ["Node", "Version", "Started", "Last seen", "State"].map((t) => h("th", {}, t))),
      nodes.map((n) => h("tr", { "data-node": n.id },
        h("td", {}, n.id, n.this_node ? h("span", { class: "muted" }, " (this node)") : null), h("td", {}, n.version),
        h("td", {}, n.started_at), h("td", {}, n.last_seen_at), h("td", { class: `node-${n.state}` }, n.state)))));
}

// ---- routing ------------------------------------------------------------------------------

const ROUTES = [
  [/^#\/messages(?:\?(.*))?$/, (m) => messagesPage(m[1] || "")],
  [/^#\/message\/(.+)$/, (m) => messagePage(decodeURIComponent(m[1]))],
  [/^#\/events$/, () => eventsPage()],
  [/^#\/event\/(.+)$/, (m) => eventPage(decodeURIComponent(m[1]))],
  [/^#\/components$/, () => componentsPage()],
  [/^#\/health$/, () => healthPage()],
];

function route() {
  clearTimeout(refreshTimer);
  if (!session) return;
  for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", location.hash.startsWith(link.getAttribute("href")));
  for (const [pattern, page] of ROUTES) {
    const match = pattern.exec(location.hash);
    if (match) return attempt(() => page(match));
  }
  fill(main, h("p", {}, "No such page."));
}

window.addEventListener("hashchange", route);
attempt(start);

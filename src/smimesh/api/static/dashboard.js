// smimesh dashboard: the topology from /api/v1/graph/stream (server-sent events), drawn with cytoscape
// and listed in tables (the text alternative); details, tap, explain and resources from the same API.
// Every request carries the token the page was opened with (URL fragment #token=...), like the CLI.
"use strict";

const state = window.smimeshDashboard = { graph: null, selected: null, cy: null, stream: null, tap: null, elementsKey: "" };

function token() {
  const found = new URLSearchParams(location.hash.slice(1)).get("token");
  if (found) {
    sessionStorage.setItem("smimesh-token", found);
    history.replaceState(null, "", location.pathname + location.search);  // keep it out of the address bar
  }
  return sessionStorage.getItem("smimesh-token");
}
const TOKEN = token();

function apiFetch(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (TOKEN) headers.Authorization = "Bearer " + TOKEN;
  return fetch(path, Object.assign({}, options, { headers, cache: "no-store" }));
}

async function apiJson(path) {
  const answer = await apiFetch(path);
  const body = await answer.json();
  if (!answer.ok) throw new Error((body.error && body.error.message) || answer.statusText);
  return body;
}

// Server-sent events over fetch (EventSource cannot send the Authorization header).
async function streamEvents(path, onData, signal) {
  const answer = await apiFetch(path, { headers: { Accept: "text/event-stream" }, signal });
  if (!answer.ok) throw new Error("stream refused: " + answer.status);
  const reader = answer.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (data) onData(JSON.parse(data));
    }
  }
}

const $ = (selector) => document.querySelector(selector);
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

const fmt = {
  rate: (e) => (e.success_rate === null || e.success_rate === undefined ? "-" : e.success_rate.toFixed(1) + "%"),
  rps: (e) => (e.rps === undefined ? "-" : e.rps.toFixed(2)),
  p99: (e) => (e.p99_ms === undefined || !e.requests ? "-" : e.p99_ms + "ms"),
  split: (e) => (e.kind === "split" ? `${e.weight}% (observed ${e.observed_share === null ? "-" : e.observed_share + "%"})` : ""),
};
const shortName = (id) => id.split("/").slice(1).join("/");

function edgeLabel(e) {
  if (e.kind === "traffic") return `${fmt.rps(e)} rps · ${fmt.rate(e)} · p99 ${fmt.p99(e)}`;
  if (e.kind === "split") return fmt.split(e);
  if (e.kind === "denied") return `denied ×${e.requests}`;
  if (e.kind === "audit") return `audit: would be denied ×${e.requests}`;
  return "";
}

// ---- the graph -------------------------------------------------------------------------------

function visible(graph) {
  const query = $("#search").value.trim().toLowerCase();
  if (!query) return graph;
  const nodes = graph.nodes.filter((n) => n.id.toLowerCase().includes(query));
  const keep = new Set(nodes.map((n) => n.id));
  const edges = graph.edges.filter((e) => keep.has(e.source) || keep.has(e.target));
  for (const e of edges) { keep.add(e.source); keep.add(e.target); }
  return { ...graph, nodes: graph.nodes.filter((n) => keep.has(n.id)), edges };
}

function cyElements(graph) {
  const nodes = graph.nodes.map((n) => ({ group: "nodes", data: { id: n.id, label: n.name, kind: n.kind, ns: n.namespace } }));
  const edges = graph.edges.map((e) => ({
    group: "edges",
    data: { id: e.id, source: e.source, target: e.target, kind: e.kind, health: e.health || "", label: edgeLabel(e) },
  }));
  return nodes.concat(edges);
}

const STYLE = [
  { selector: "node", style: { "min-zoomed-font-size": 6, label: "data(label)", "font-size": 11, "text-valign": "bottom", "text-margin-y": 4, width: 26, height: 26, "background-color": "#1f3b57" } },
  { selector: "node[kind = 'service']", style: { shape: "round-rectangle", "background-color": "#7fd1ae", width: 34, height: 20 } },
  { selector: "node[kind = 'identity']", style: { shape: "diamond", "background-color": "#a50e0e" } },
  { selector: "node:selected", style: { "border-width": 4, "border-color": "#1a73e8" } },
  { selector: "edge", style: { "min-zoomed-font-size": 8, width: 2, "curve-style": "bezier", "target-arrow-shape": "triangle", label: "data(label)", "font-size": 9, "text-background-color": "#fff", "text-background-opacity": 0.8, "text-background-padding": 1 } },
  { selector: "edge[kind = 'traffic'][health = 'ok']", style: { "line-color": "#1e8e3e", "target-arrow-color": "#1e8e3e", width: 3 } },
  { selector: "edge[kind = 'traffic'][health = 'warn']", style: { "line-color": "#e37400", "target-arrow-color": "#e37400", width: 3 } },
  { selector: "edge[kind = 'traffic'][health = 'bad']", style: { "line-color": "#d93025", "target-arrow-color": "#d93025", width: 3 } },
  { selector: "edge[kind = 'traffic'][health = 'idle']", style: { "line-color": "#9aa0a6", "target-arrow-color": "#9aa0a6" } },
  { selector: "edge[kind = 'split']", style: { "line-style": "dashed", "line-color": "#5f6368", "target-arrow-color": "#5f6368" } },
  { selector: "edge[kind = 'denied']", style: { "line-color": "#a50e0e", "target-arrow-color": "#a50e0e", "target-arrow-shape": "tee", width: 3, "line-style": "dotted" } },
  { selector: "edge[kind = 'audit']", style: { "line-color": "#e37400", "target-arrow-color": "#e37400", "target-arrow-shape": "tee", width: 2, "line-style": "dotted" } },
  { selector: "edge[kind = 'allowed']", style: { "line-color": "#dadce0", "target-arrow-color": "#dadce0", opacity: 0.5, width: 1 } },
  { selector: "edge[kind = 'backs']", style: { "line-color": "#e8eaed", "target-arrow-shape": "none", width: 1 } },
  { selector: "edge:selected", style: { "line-color": "#1a73e8", "target-arrow-color": "#1a73e8", width: 5 } },
];

function drawGraph(graph) {
  if (!window.cytoscape) return;
  const elements = cyElements(graph);
  const key = elements.map((e) => e.data.id).join("|");
  if (!state.cy) {
    // Large graphs: draw a cached bitmap while panning/zooming and hide edges meanwhile (cytoscape's own
    // performance switches), so the page stays responsive at a few hundred nodes.
    const large = graph.nodes.length > 100;
    state.cy = cytoscape({ container: $("#graph"), elements, style: STYLE, minZoom: 0.1, maxZoom: 2.5,
      textureOnViewport: large, hideEdgesOnViewport: large, pixelRatio: large ? 1 : "auto" });
    state.cy.on("tap", "node", (event) => select({ type: "node", id: event.target.id() }));
    state.cy.on("tap", "edge", (event) => select({ type: "edge", id: event.target.id() }));
    layout();
  } else if (key !== state.elementsKey) {
    state.cy.batch(() => { state.cy.elements().remove(); state.cy.add(elements); });
    layout();
  } else {
    // Same elements: update the figures in place (no relayout: the picture stays still while live).
    state.cy.batch(() => { for (const e of elements) state.cy.getElementById(e.data.id).data(e.data); });
  }
  state.elementsKey = key;
}

function layout() {
  const large = state.cy.nodes().length > 150;
  // Callers, then services, then the workloads behind them: a layered picture reads like the call path.
  const options = large
    ? { name: "grid", avoidOverlap: true, animate: false }
    : { name: "breadthfirst", directed: true, spacingFactor: 1.4, avoidOverlap: true, animate: false, padding: 30 };
  state.cy.layout(options).run();
  if (state.cy.zoom() > 1.2) { state.cy.zoom(1.2); state.cy.center(); }  // small graphs: readable labels
}

// ---- the tables (text alternative) -------------------------------------------------------------

function rowFor(item, type, cells) {
  const row = el("tr", { tabindex: "0", class: type === "edge" ? `k-${item.kind}` : "", dataset: { id: item.id, kind: item.kind } }, ...cells.map((c) => el("td", {}, c)));
  row.addEventListener("click", () => select({ type, id: item.id }));
  row.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); select({ type, id: item.id }); } });
  if (state.selected && state.selected.id === item.id) row.classList.add("selected");
  return row;
}

function drawTables(graph) {
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.id : null;
  const edges = graph.edges.filter((e) => e.kind !== "backs");
  const edgeRows = edges.map((e) => {
    const health = el("span", { class: `h-${e.health || "idle"}` }, fmt.rate(e));
    return rowFor(e, "edge", [shortName(e.source), shortName(e.target), e.kind, fmt.rps(e), health, fmt.p99(e), e.requests === undefined ? "-" : e.requests, fmt.split(e)]);
  });
  $("#edges tbody").replaceChildren(...edgeRows);
  const nodeRows = graph.nodes.map((n) => rowFor(n, "node", [n.name, n.kind, n.namespace || "-", n.instances === undefined ? "-" : n.instances]));
  $("#nodes tbody").replaceChildren(...nodeRows);
  if (focused) {  // a live update must not steal the keyboard user's place
    const again = document.querySelector(`tr[data-id="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
}

function render() {
  if (!state.graph) return;
  const shown = visible(state.graph);
  drawGraph(shown);
  drawTables(shown);
  const select_ = $("#namespace");
  const current = select_.value;
  const options = [el("option", { value: "" }, "all"), ...state.graph.namespaces.map((ns) => el("option", { value: ns }, ns))];
  if (select_.options.length !== options.length) { select_.replaceChildren(...options); select_.value = current; }
}

// ---- live updates ------------------------------------------------------------------------------

function connect() {
  if (state.stream) state.stream.abort();
  const controller = new AbortController();
  state.stream = controller;
  const params = new URLSearchParams({ window: $("#window").value });
  if ($("#namespace").value) params.set("namespace", $("#namespace").value);
  $("#live").textContent = "connecting…";
  streamEvents("/api/v1/graph/stream?" + params, (graph) => {
    state.graph = graph;
    $("#live").textContent = `live · ${graph.nodes.length} nodes · ${graph.edges.length} edges · updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
    render();
  }, controller.signal).catch((error) => {
    if (controller.signal.aborted) return;
    $("#live").textContent = "disconnected, retrying…";
    setTimeout(connect, 2000);
  });
}

// ---- details -----------------------------------------------------------------------------------

async function select(selection) {
  state.selected = selection;
  if (state.cy) { state.cy.elements().unselect(); state.cy.getElementById(selection.id).select(); }
  document.querySelectorAll("tr.selected").forEach((r) => r.classList.remove("selected"));
  document.querySelectorAll(`tr[data-id="${CSS.escape(selection.id)}"]`).forEach((r) => r.classList.add("selected"));
  const panel = $("#details");
  panel.replaceChildren(el("h2", {}, "Details"), el("p", { class: "hint" }, "loading…"));
  try {
    const content = selection.type === "edge" ? await edgeDetails(selection.id) : await nodeDetails(selection.id);
    panel.replaceChildren(el("h2", {}, "Details"), ...content);
  } catch (error) {
    panel.replaceChildren(el("h2", {}, "Details"), el("p", { role: "alert" }, String(error.message || error)));
  }
  const node = state.graph.nodes.find((n) => n.id === selection.id);
  $("#tap-toggle").disabled = !(node && node.kind === "workload");
}

function figures(edges) {
  return el("table", {}, el("tbody", {}, ...edges.map((e) => el("tr", {}, el("td", {}, `${shortName(e.source)} → ${shortName(e.target)}`), el("td", {}, `${fmt.rps(e)} rps`), el("td", {}, fmt.rate(e)), el("td", {}, `p99 ${fmt.p99(e)}`)))));
}

async function nodeDetails(id) {
  const node = state.graph.nodes.find((n) => n.id === id);
  const out = [el("h3", {}, `${node.kind} ${node.namespace}/${node.name}`)];
  if (node.kind === "workload") {
    const status = await apiJson("/api/v1/status");
    const rows = status.instances.filter((r) => r.workload === node.name && r.namespace === node.namespace);
    const certs = ((status.security || {}).certificates || []).filter((c) => c.identity.endsWith(`/ns/${node.namespace}/sa/${node.service_account}`));
    out.push(el("h4", {}, "Instances"), el("table", {}, el("tbody", {}, ...rows.map((r) => el("tr", {}, el("td", {}, r.instance), el("td", {}, r.state), el("td", {}, `sync ${r.sync}`), el("td", {}, `restarts ${r.restarts}`))))));
    out.push(el("p", {}, `Identity ${node.service_account}; certificate ` + (certs.length ? `expires ${certs[0].not_after} (in ${Math.round(certs[0].expires_in_s)} s)` : "not issued")));
  }
  const edges = state.graph.edges.filter((e) => e.kind === "traffic");
  out.push(el("h4", {}, "Inbound"), figures(edges.filter((e) => e.target === id)));
  out.push(el("h4", {}, "Outbound"), figures(edges.filter((e) => e.source === id)));
  return out;
}

async function edgeDetails(id) {
  const edge = state.graph.edges.find((e) => e.id === id);
  const out = [el("h3", {}, `${edge.kind}: ${shortName(edge.source)} → ${shortName(edge.target)}`)];
  if (edge.kind === "traffic") {
    out.push(figures([edge]));
    out.push(el("p", { class: "allowing" }, edge.policies.length ? "Allowed by " + edge.policies.join(", ") : "No TrafficTarget allows this edge"));
  }
  if (edge.kind === "allowed") out.push(el("p", { class: "allowing" }, `Allowed by ${edge.policy}; nothing was sent in the window`));
  if (edge.kind === "split") {
    out.push(el("p", {}, `${edge.split}: configured ${edge.weight}%, observed ${edge.observed_share === null ? "-" : edge.observed_share + "%"}`));
    const history = (state.graph.split_history || {})[edge.split] || [];
    out.push(el("h4", {}, "History (weights as they took effect)"), el("ol", { class: "split-history" },
      ...history.map((h) => el("li", {}, `${new Date(h.time * 1000).toISOString().slice(0, 19)}Z  ` +
        Object.entries(h.weights).map(([backend, weight]) => `${backend.split("/")[1]} ${weight}`).join(", ")))));
    out.push(...(await canaryOf(edge.source)));
  }
  if (edge.kind === "denied" || edge.kind === "audit") {
    const what = edge.kind === "denied" ? "denied" : "allowed by audit mode, but no TrafficTarget allows them";
    out.push(el("p", {}, `${edge.requests} requests ${what} from ${edge.peer}`));
    const button = el("button", { type: "button", id: "suggest" }, "Suggest a policy allowing what was observed");
    const result = el("div", { id: "suggestion", role: "status", "aria-live": "polite" });
    button.addEventListener("click", () => suggestFor(target, result));
    out.push(button, result);
  }
  const source = state.graph.nodes.find((n) => n.id === edge.source);
  const target = state.graph.nodes.find((n) => n.id === edge.target);
  if (source && source.kind === "workload" && target && !(edge.policies && edge.policies.length)) {
    const to = target.kind === "service" ? `${target.name}.${target.namespace}` : await serviceOf(target);
    if (to) out.push(...(await explainAnswer(`${source.namespace}/${source.name}`, to, "GET", "/", [])));
  }
  return out;
}

// The canary (progressive delivery, `smimesh canary`) driving this split's root, with its analysis.
async function canaryOf(rootId) {
  const [namespace, name] = shortName(rootId).split("/");
  const answer = await apiFetch("/api/v1/canaries?" + new URLSearchParams({ namespace }));
  if (!answer.ok) return [];
  const canary = ((await answer.json()).items || []).find((c) => c.service === name);
  if (!canary) return [el("p", { class: "hint" }, "No canary drives this split.")];
  const events = (canary.events || []).slice(-5).map((e) => el("li", {}, typeof e === "string" ? e : JSON.stringify(e)));
  return [el("h4", {}, `Canary ${canary.namespace}/${canary.name} (target ${canary.target})`),
    el("pre", { class: "canary" }, toYaml(canary.status || {})), el("ol", {}, ...events)];
}

async function serviceOf(workload) {
  const backs = state.graph.edges.find((e) => e.kind === "backs" && e.target === workload.id);
  return backs ? shortName(backs.source).split("/").reverse().join(".") : null;
}

async function explainAnswer(from, to, method, path, headers) {
  const params = new URLSearchParams({ from, to, method, path });
  for (const header of headers) params.append("header", header);
  const answer = await apiJson("/api/v1/explain?" + params);
  const out = [el("p", { class: answer.allowed ? "allowed-yes explain-verdict" : "allowed-no explain-verdict" }, `${method} ${path} from ${from} to ${to}: ${answer.allowed ? "allowed" : "denied"} (mode ${answer.mode})`)];
  const decisions = answer.decisions || [];
  const allowing = decisions.map((d) => d.policy).filter(Boolean);
  if (allowing.length) out.push(el("p", { class: "allowing" }, "Allowed by " + [...new Set(allowing)].join(", ")));
  for (const d of decisions) if (d.reason) out.push(el("p", { class: "hint" }, d.reason));
  if (!answer.allowed && answer.suggestion && answer.suggestion.length) {
    out.push(el("p", {}, "The smallest objects that would allow it:"), el("pre", {}, answer.suggestion.map(toYaml).join("---\n")));
  }
  return out;
}

async function suggestFor(target, result) {
  const params = new URLSearchParams({ namespace: target.namespace, window: "1h" });
  const answer = await apiJson("/api/v1/policy/suggest?" + params);
  const mine = answer.documents.filter((d) => d.kind === "HTTPRouteGroup" || d.spec.destination.name === target.service_account);
  result.replaceChildren(
    el("p", { class: "hint" }, `From ${answer.observed.length} calls observed into ${target.namespace} (smimesh policy suggest -n ${target.namespace}); review, then smimesh apply -f:`),
    el("pre", {}, mine.map(toYaml).join("---\n")),
    ...answer.notes.map((n) => el("p", { class: "hint" }, n)));
}

// ---- tap ---------------------------------------------------------------------------------------

function toggleTap() {
  const button = $("#tap-toggle");
  if (state.tap) { state.tap.abort(); state.tap = null; button.textContent = "Start tap"; return; }
  const node = state.graph.nodes.find((n) => n.id === state.selected.id);
  const controller = new AbortController();
  state.tap = controller;
  button.textContent = `Stop tap of ${node.name}`;
  $("#tap").replaceChildren();
  const params = new URLSearchParams({ namespace: node.namespace, workload: node.name });
  streamEvents("/api/v1/tap?" + params, (e) => {
    const line = `${e.direction === "inbound" ? "in " : "out"} ${e.status} ${e.method} ${e.authority}${e.path} ${e.latency_ms}ms ${e.verdict || ""} peer=${e.peer || "-"}${e.route ? " route=" + e.route : ""}${e.backend ? " backend=" + e.backend : ""}`;
    const list = $("#tap");
    list.append(el("li", {}, line));
    while (list.children.length > 200) list.firstChild.remove();  // bounded on the page too
  }, controller.signal).catch(() => {});
}

// ---- explain form and resources ---------------------------------------------------------------

async function onExplain(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const headers = String(form.get("headers") || "").split(";").map((h) => h.trim()).filter(Boolean);
  const result = $("#explain-result");
  try {
    result.replaceChildren(...(await explainAnswer(form.get("from"), form.get("to"), form.get("method") || "GET", form.get("path") || "/", headers)));
  } catch (error) {
    result.replaceChildren(el("p", { role: "alert" }, String(error.message || error)));
  }
}

function toYaml(value, indent = "") {
  if (Array.isArray(value)) {
    if (!value.length) return "[]\n";
    return value.map((v) => `${indent}- ${toYaml(v, indent + "  ").trimStart()}`).join("");
  }
  if (value && typeof value === "object") {
    const keys = Object.keys(value);
    if (!keys.length) return "{}\n";
    return keys.map((k) => {
      const v = value[k];
      return v && typeof v === "object" && (Array.isArray(v) ? v.length : Object.keys(v).length)
        ? `${indent}${k}:\n${toYaml(v, indent + "  ")}` : `${indent}${k}: ${toYaml(v, "").trim()}\n`;
    }).join("");
  }
  return JSON.stringify(value) + "\n";
}

async function loadResources() {
  const listing = await apiJson("/api/v1/resources");
  const diagnostics = (state.graph && state.graph.diagnostics) || [];
  const items = listing.items.map((item) => {
    const name = `${item.kind}/${item.namespace || "-"}/${item.name}`;
    const mine = diagnostics.filter((d) => d.object && d.object.includes(item.name));
    return el("details", {}, el("summary", {}, `${name} — ${item.origin} (${item.location})${mine.length ? ` · ${mine.length} diagnostics` : ""}`),
      ...mine.map((d) => el("p", { class: "hint" }, `${d.code} ${d.message}`)), el("pre", {}, toYaml(item.object)));
  });
  const general = diagnostics.map((d) => el("p", { class: "hint" }, `${d.code} ${d.message}`));
  $("#resources").replaceChildren(...items, ...(general.length ? [el("h3", {}, "Diagnostics of the model"), ...general] : []));
}

document.addEventListener("DOMContentLoaded", () => {
  $("#window").addEventListener("change", connect);
  $("#namespace").addEventListener("change", connect);
  $("#search").addEventListener("input", render);
  $("#filters").addEventListener("submit", (event) => event.preventDefault());
  $("#tap-toggle").addEventListener("click", toggleTap);
  $("#explain").addEventListener("submit", onExplain);
  $("#resources-load").addEventListener("click", () => loadResources().catch((e) => $("#resources").replaceChildren(el("p", { role: "alert" }, String(e.message || e)))));
  connect();
});

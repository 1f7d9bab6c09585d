// The Observer's page: it renders an overview (contract.Overview) and polls /overview.json every
// second for the next. No framework and no CDN: the bank's operators may have no internet.
"use strict";

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const num = (v, digits = 1) => (v === undefined || v === null ? "–" : Number(v).toFixed(digits));

// spark draws the values as a small line chart, scaled to their own maximum.
function spark(values, color = "#3b6fd4", width = 160, height = 28) {
  const vs = values.map((v) => (Number.isFinite(v) ? v : 0));
  const top = Math.max(...vs, 1e-9);
  const step = vs.length > 1 ? width / (vs.length - 1) : width;
  const points = vs.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / top) * (height - 4)).toFixed(1)}`).join(" ");
  return `<svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><polyline fill="none" stroke="${color}" stroke-width="1.5" points="${points}"/></svg>`;
}

function chart(label, values, value, color) {
  return `<div class="chart"><span class="label">${esc(label)}</span>${spark(values, color)}<span class="value">${esc(value)}</span></div>`;
}

function renderNodes(ov) {
  $("nodes").innerHTML = (ov.nodes || []).map((n) => `
    <div class="node ${n.live ? "up" : "down"}" data-node="${esc(n.name)}" data-state="${n.live ? "up" : "down"}">
      <div><strong>${esc(n.name)}</strong> <span class="state">${n.live ? "up" : "down"}</span></div>
      <dl>
        <dt>accounts</dt><dd>${n.accounts}</dd>
        <dt>lease holder</dt><dd title="${esc(n.holder)}">${esc((n.holder || "–").split("/").pop().slice(-8))}</dd>
        <dt>epoch</dt><dd>${n.epoch ?? "–"}</dd>
        <dt>outbox unsent</dt><dd>${n.outbox_unsent ?? "–"}</dd>
        <dt>version</dt><dd>${esc(n.version || "–")}</dd>
      </dl>
    </div>`).join("") || "<p>No account node has run yet.</p>";
}

function renderTransfers(ov, samples) {
  const t = ov.transfers || {};
  $("transfers").innerHTML =
    chart("in flight", samples.map((s) => s.in_flight), t.in_flight, "#3b6fd4") +
    chart("in doubt", samples.map((s) => s.in_doubt), t.in_doubt, "#d73027") +
    `<p class="figures"><span>payments not done</span><span id="payments">${t.payments ?? 0}</span></p>`;
}

function renderPhases(ov, samples) {
  $("phases").innerHTML = ["log", "prepare", "decide", "commit"].map((p) =>
    chart(p, samples.map((s) => (s.phases_ms || {})[p] || 0), num((ov.phases_ms || {})[p], 2), "#7b3294")).join("");
}

function renderHistory(ov, samples) {
  const h = ov.history || {};
  const outboxNodes = [...new Set(samples.flatMap((s) => Object.keys(s.outbox_unsent || {})))].sort();
  $("history").innerHTML =
    chart("consumer lag", samples.map((s) => s.lag), h.lag, "#e08214") +
    outboxNodes.map((n) => chart(`outbox ${n}`, samples.map((s) => (s.outbox_unsent || {})[n] || 0),
      (ov.nodes || []).find((x) => x.name === n)?.outbox_unsent ?? "–", "#e08214")).join("");
}

function renderRequests(ov, samples) {
  $("requests").innerHTML =
    chart("requests/s", samples.map((s) => s.rate), num(samples.at(-1)?.rate), "#1a9850") +
    chart("errors/s", samples.map((s) => s.error_rate), num(samples.at(-1)?.error_rate), "#d73027");
  const rows = (ov.endpoints || []).filter((e) => e.requests > 0);
  $("endpoints").innerHTML = `<table><thead><tr><th>service</th><th>endpoint</th><th>req/s</th><th>errors/s</th><th>requests</th><th>errors</th><th>mean ms</th><th>last error</th></tr></thead><tbody>` +
    rows.map((e) => `<tr class="${e.error_rate > 0 ? "errors" : ""}"><td>${esc(e.service)}</td><td>${esc(e.endpoint)}</td><td>${num(e.rate)}</td><td>${num(e.error_rate)}</td><td>${e.requests}</td><td>${e.errors}</td><td>${num(e.average_ms, 2)}</td><td>${esc(e.last_error)}</td></tr>`).join("") +
    "</tbody></table>";
}

function renderNATS(ov) {
  $("nats").innerHTML = `<table><thead><tr><th>server</th><th>state</th><th>version</th><th>connections</th><th>msgs in/s</th><th>msgs out/s</th><th>memory MB</th><th>cpu %</th></tr></thead><tbody>` +
    (ov.nats || []).map((s) => `<tr class="server ${s.up ? "up" : "down"}"><td>${esc(s.name || s.url)}</td><td>${s.up ? "up" : "down"}</td><td>${esc(s.version)}</td><td>${s.connections}</td><td>${num(s.in_msgs_rate)}</td><td>${num(s.out_msgs_rate)}</td><td>${num(s.mem_bytes / 1048576)}</td><td>${num(s.cpu)}</td></tr>`).join("") +
    "</tbody></table>";
}

function render(ov) {
  const samples = ov.samples || [];
  renderNodes(ov);
  renderTransfers(ov, samples);
  renderPhases(ov, samples);
  renderHistory(ov, samples);
  renderRequests(ov, samples);
  renderNATS(ov);
  $("updated").textContent = "as of " + new Date(ov.at).toLocaleTimeString();
  const problems = ov.problems || [];
  $("problems").hidden = problems.length === 0;
  $("problems").innerHTML = problems.map((p) => `<div>${esc(p)}</div>`).join("");
}

async function poll() {
  try {
    const r = await fetch("/overview.json", { cache: "no-store" });
    if (r.ok) render(await r.json());
    else $("updated").textContent = "the Observer answers " + r.status;
  } catch (e) {
    $("updated").textContent = "the Observer does not answer: " + e;
  }
}

const initial = $("initial").textContent.trim();
if (initial) render(JSON.parse(initial));
setInterval(poll, 1000);

// The naswot dashboard: searches over the /v1 API, live over each search's event stream.
"use strict";

const KEY_STORE = "naswot-api-key";
const ACTIVE = ["queued", "running"];
const LIST_POLL_MS = 2000;
const REPORT_EVERY_MS = 4000;
const PAGE_SIZE = 20;
const OPS_ROW_PX = 22;  // the op chart's height per decision value (two bars and a label)
const SEARCH_PATH = /^\/searches\/([^/]+)\/?$/;

const state = {
  key: sessionStorage.getItem(KEY_STORE),
  selected: null,        // id of the search shown in the detail card
  stream: null,          // AbortController of its event stream
  evaluations: [],       // its evaluations so far, in step order
  top: [],               // its top table
  extras: null,          // the scores its top table shows beside the ranking one, joined
  charts: {},
  redraw: false,
  lastReport: 0,
  strategies: [],
  offset: 0,             // the search list's page: how many newer searches it skips
};

class ApiError extends Error {
  constructor(status, detail) {
    super(describeDetail(detail) || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

function describeDetail(detail) {
  if (!Array.isArray(detail)) return detail ? String(detail) : "";
  return detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
}

const $ = (selector) => document.querySelector(selector);

function authHeaders() {
  return state.key ? {Authorization: `Bearer ${state.key}`} : {};
}

// JSON with every integer beyond 2^53 kept exact, as a BigInt read from its digits (a space's size, e.g.
// ofa-mbv3's 543,966,387,314,312,146,275, would otherwise come back rounded to ...150,000).
function parseJson(text) {
  return JSON.parse(text, (key, value, context) => (
    typeof value === "number" && !Number.isSafeInteger(value) && context && /^-?\d+$/.test(context.source) ? BigInt(context.source) : value
  ));
}

// One API call: JSON in and out, the key when there is one; a 401 opens the key prompt.
async function api(path, options = {}) {
  const headers = {...authHeaders(), ...(options.body ? {"Content-Type": "application/json"} : {})};
  const response = await fetch(path, {...options, headers});
  const body = await response.text().then(parseJson).catch(() => null);
  if (response.status === 401) askKey(body && describeDetail(body.detail));
  if (!response.ok) throw new ApiError(response.status, body ? body.detail : response.statusText);
  return body;
}

// -- API key ---------------------------------------------------------------------------------

function askKey(reason) {
  const dialog = $("#key-dialog");
  $("#key-error").textContent = state.key && reason ? reason : "";
  if (!dialog.open) dialog.showModal();
}

function useKey(event) {
  event.preventDefault();
  state.key = $("#key-input").value.trim();
  sessionStorage.setItem(KEY_STORE, state.key);
  $("#key-input").value = "";
  $("#key-dialog").close();
  boot();
}

// -- formatting: format.js ----------------------------------------------------------------------

function firstSentence(text) {
  const sentence = String(text).split(/(?<=[.;])\s|\s\(/)[0];
  return sentence.length > 70 ? sentence.slice(0, 67) + "…" : sentence;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

// -- spaces, scores, strategies (the form's choices) -----------------------------------------

async function loadSpaces() {
  const {spaces} = await api("/v1/spaces");
  $("#f-space").replaceChildren(...spaces.map((s) => new Option(s.name, s.name, s.name === "nb201", s.name === "nb201")));
  $("#spaces tbody").replaceChildren(...spaces.map((s) => {
    const row = document.createElement("tr");
    row.title = s.encoding;
    const name = cell(s.name);
    name.append(Object.assign(document.createElement("span"), {className: "what small", textContent: firstSentence(s.description)}));
    row.append(name, cell(s.size === null ? "–" : s.size.toLocaleString("en"), "num"));
    return row;
  }));
}

// The score registry (GET /v1/scores); a server without it scores NASWOT alone, and the form sends no score.
async function loadScores() {
  let scores;
  try {
    scores = (await api("/v1/scores")).scores;
  } catch (error) {
    if (error.status !== 404) throw error;
    $("#f-score").replaceChildren(new Option("naswot (this server's only score)", "", true, true));
    $("#f-score").disabled = true;
    $("#f-more-scores").replaceChildren();
    $("#f-more-scores").disabled = true;
    $("#scores tbody").replaceChildren(scoreRow({name: "naswot", description: "the only score this server offers", needs_backward: false}));
    return;
  }
  $("#f-score").disabled = false;
  $("#f-score").replaceChildren(...scores.map((s) => new Option(s.name, s.name, s.name === "naswot", s.name === "naswot")));
  $("#f-more-scores").disabled = false;
  $("#f-more-scores").replaceChildren(...scores.map((s) => new Option(s.name, s.name)));
  $("#scores tbody").replaceChildren(...scores.map(scoreRow));
}

function scoreRow(s) {
  const needs = [s.needs_backward ? "backward" : "forward", s.needs_labels ? "labels" : null, s.data_free ? "no data" : null].filter(Boolean);
  const row = document.createElement("tr");
  row.title = s.description;
  row.append(cell(s.name), cell(needs.join(", ")), cell(firstSentence(s.description), "small"));
  return row;
}

// The strategies, their parameters and the constraints, as the server declares them (GET /v1/strategies).
async function loadStrategies() {
  const listing = await api("/v1/strategies");
  state.strategies = listing.strategies;
  const select = $("#f-strategy");
  select.replaceChildren(...state.strategies.map((s) => new Option(s.name, s.name, s.name === "evolution", s.name === "evolution")));
  $("#f-constraints").replaceChildren(...listing.constraints.map((c) => numberInput(c, "none", "constraint")));
  $("#f-minimize").placeholder = `none, or some of: ${listing.costs.join(", ")}`;
  showStrategyParams();
}

// One number field per parameter of the chosen strategy: its bounds, its default as placeholder, its help as tooltip.
function showStrategyParams() {
  const strategy = state.strategies.find((s) => s.name === $("#f-strategy").value);
  const fields = (strategy ? strategy.parameters : []).map((p) => numberInput(p, p.default === null ? "default" : String(p.default), "strategyParam"));
  $("#f-params").replaceChildren(...fields);
}

// A labelled number input for a declared field (name, minimum, maximum, help), marked with data-<kind>.
function numberInput(field, placeholder, kind) {
  const label = document.createElement("label");
  label.textContent = field.name.replaceAll("_", " ") + " ";
  label.title = field.help;
  const input = document.createElement("input");
  Object.assign(input, {type: "number", name: field.name, id: `f-${field.name}`, placeholder, step: field.type === "number" ? "any" : "1"});
  if (field.minimum !== null) input.min = field.minimum;
  if (field.maximum !== null && Number.isSafeInteger(field.maximum)) input.max = field.maximum;
  input.dataset[kind] = "1";
  label.append(input);
  return label;
}

// -- starting a search ------------------------------------------------------------------------

function numberField(id) {
  const value = $(id).value.trim();
  return value === "" ? null : Number(value);
}

function searchBody() {
  const body = {
    space: $("#f-space").value, strategy: $("#f-strategy").value, budget: numberField("#f-budget"), top_k: numberField("#f-top_k"),
    seed: numberField("#f-seed"), batch_size: numberField("#f-batch_size"),
  };
  const score = $("#f-score").value;
  const more = [...$("#f-more-scores").selectedOptions].map((o) => o.value).filter((name) => name !== score);
  if (more.length) body.score = [score || "naswot", ...more];  // the first ranks, the others are recorded beside it
  else if (score && score !== "naswot") body.score = score;  // naswot is every server's default: left out
  const data = $("#f-data").value.trim();
  if (data) body.data = data;
  const constraints = {};
  for (const input of document.querySelectorAll("[data-constraint]")) {
    if (input.value.trim() !== "") constraints[input.name] = Number(input.value);
  }
  if (Object.keys(constraints).length) body.constraints = constraints;
  const minimize = $("#f-minimize").value.split(",").map((c) => c.trim()).filter((c) => c);
  if (minimize.length) body.minimize = minimize;
  for (const input of document.querySelectorAll("[data-strategy-param]")) {
    if (input.value.trim() !== "") body[input.name] = Number(input.value);
  }
  return body;
}

async function startSearch(event) {
  event.preventDefault();
  const errors = $("#form-errors");
  errors.replaceChildren();
  try {
    const job = await api("/v1/searches", {method: "POST", body: JSON.stringify(searchBody())});
    state.offset = 0;
    await refreshList();
    openSearch(job.id);
  } catch (error) {
    const items = Array.isArray(error.detail) ? error.detail.map((d) => `${(d.loc || []).slice(1).join(".") || "request"}: ${d.msg}`) : [error.message];
    errors.replaceChildren(...items.map((text) => Object.assign(document.createElement("li"), {textContent: text})));
  }
}

async function cancelSearch(id) {
  try {
    await api(`/v1/searches/${id}`, {method: "DELETE"});
  } catch (error) {
    if (error.status !== 409) throw error;  // already finished: nothing to cancel
  }
  await refreshList();
}

// -- the list of searches ---------------------------------------------------------------------

function searchRow(job) {
  const row = document.createElement("tr");
  row.dataset.id = job.id;
  row.className = job.id === state.selected ? "selected" : "";
  const progress = document.createElement("progress");
  Object.assign(progress, {max: job.progress.budget, value: job.progress.evaluated});
  const progressCell = cell(` ${job.progress.evaluated}/${job.progress.budget}`);
  progressCell.prepend(progress);
  const cancel = cell("");
  if (ACTIVE.includes(job.status)) {
    const button = Object.assign(document.createElement("button"), {type: "button", textContent: "Cancel", className: "danger small-button"});
    button.addEventListener("click", (event) => { event.stopPropagation(); cancelSearch(job.id); });
    cancel.append(button);
  }
  row.append(cell(job.id.slice(0, 8), "mono"), cell(`${job.space} · ${job.strategy} · seed ${job.seed}`),
    cell(job.status, `badge ${job.status}`), progressCell, cell(formatSeconds(job.elapsed)), cell(formatScore(job.best)), cancel);
  row.addEventListener("click", () => openSearch(job.id));
  return row;
}

// One page of the list, newest first (one more is asked for, to know whether an older page exists).
async function refreshList() {
  const offset = state.offset;
  const {searches} = await api(`/v1/searches?limit=${PAGE_SIZE + 1}&offset=${offset}`);
  if (offset !== state.offset) return;  // paged meanwhile: that page's answer shows it
  const shown = searches.slice(0, PAGE_SIZE);
  $("#searches tbody").replaceChildren(...shown.map(searchRow));
  $("#no-searches").hidden = shown.length > 0 || offset > 0;
  $("#page-newer").disabled = offset === 0;
  $("#page-older").disabled = searches.length <= PAGE_SIZE;
  $("#page-text").textContent = shown.length ? `${offset + 1}–${offset + shown.length}` : "";
  if (!state.selected && !linkedId() && shown.length) select(shown[0].id);
}

function turnPage(step) {
  state.offset = Math.max(0, state.offset + step * PAGE_SIZE);
  refreshList().catch(() => {});
}

// -- a link per search: /searches/<id> (or #/searches/<id>), with back and forward ----------------

// The search id the address names, or null on the plain page (which shows the newest search).
function linkedId() {
  const match = location.pathname.match(SEARCH_PATH) || location.hash.slice(1).match(SEARCH_PATH);
  return match ? decodeURIComponent(match[1]) : null;
}

// Show a search and give it its own history entry and address.
function openSearch(id) {
  if (linkedId() !== id) history.pushState({id}, "", `/searches/${encodeURIComponent(id)}`);
  select(id);
}

// Back or forward: show the search the address names (the newest on the plain page).
function followAddress() {
  const id = linkedId();
  if (id) select(id);
  else {
    state.selected = null;
    refreshList().catch(() => {});
  }
}

// -- one search: status, charts, top table, cell, bias ---------------------------------------

function select(id) {
  if (state.selected === id && state.stream) return;
  if (state.stream) state.stream.abort();
  Object.assign(state, {selected: id, evaluations: [], top: [], extras: null, lastReport: 0, stream: new AbortController()});
  for (const row of document.querySelectorAll("#searches tbody tr")) row.classList.toggle("selected", row.dataset.id === id);
  $("#detail").hidden = false;
  $("#d-id").textContent = id;
  $("#d-link").href = `/searches/${encodeURIComponent(id)}`;
  clearCharts();
  $("#d-status").textContent = "";
  $("#d-error").textContent = "";
  follow(id, state.stream.signal).catch((error) => {
    if (error.name === "AbortError") return;
    $("#d-error").textContent = error.status === 404 ? `no search ${id} on this server` : error.message;
    if (error.status === 404) $("#d-status").textContent = "not found";
  });
}

function showStatus(job) {
  $("#d-status").textContent = job.status;
  $("#d-status").className = `badge ${job.status}`;
  $("#d-cancel").hidden = !ACTIVE.includes(job.status);
  $("#d-progress").max = job.progress.budget;
  $("#d-progress").value = job.progress.evaluated;
  const batch = job.progress.batch ? ` (scoring ${job.progress.batch.scored}/${job.progress.batch.size} of a batch)` : "";
  $("#d-progress-text").textContent = `${job.progress.evaluated}/${job.progress.budget} evaluated${batch}`;
  $("#d-elapsed").textContent = formatSeconds(job.elapsed);
  $("#d-best").textContent = formatScore(job.best);
  $("#d-error").textContent = job.error || "";
  showTop(job.top, extraScores(job));
  Pareto.show(job);
  state.redraw = true;
}

// The scores a job records beside the one it ranks by (a request with a list of scores: its `reported_scores`).
function extraScores(job) {
  return (job.request && job.request.reported_scores) || [];
}

function topHeader(extras) {
  const names = ["#", "score", ...extras, "params", "FLOPs", "latency ms", "encoding", ""];
  const tr = document.createElement("tr");
  for (const name of names) {
    const th = Object.assign(document.createElement("th"), {textContent: name});
    if (name === "latency ms") th.title = "measured latency per forward pass (searches with max_latency_ms)";
    tr.append(th);
  }
  return tr;
}

function showTop(top, extras = []) {
  const key = extras.join(",");
  const unchanged = key === state.extras && top.length === state.top.length && top.every((e, i) => e.arch === state.top[i].arch);
  state.top = top;
  state.extras = key;
  if (unchanged && top.length) return;
  $("#top thead").replaceChildren(topHeader(extras));
  $("#top tbody").replaceChildren(...top.map((e, i) => topRow(e, i, extras)));
  if (top.length) showCell(top[0].arch, 1);
  state.redraw = true;
}

function topRow(e, index, extras) {
  const row = document.createElement("tr");
  const code = Object.assign(document.createElement("code"), {textContent: e.arch, className: "arch"});
  const encoding = cell("");
  encoding.append(code);
  const copy = Object.assign(document.createElement("button"), {type: "button", textContent: "copy", className: "small-button copy"});
  copy.addEventListener("click", (event) => { event.stopPropagation(); copyText(e.arch, copy); });
  const copyCell = cell("");
  copyCell.append(copy);
  const values = extras.map((name) => formatValue(e.values && e.values[name]));
  const numbers = [formatScore(e), ...values, formatCount(e.params), formatCount(e.flops), formatLatency(e.latency_ms)];
  row.append(cell(String(index + 1)), ...numbers.map((n) => cell(n, "num")), encoding, copyCell);
  row.addEventListener("click", () => showCell(e.arch, index + 1));
  return row;
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = Object.assign(document.createElement("textarea"), {value: text});
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  button.textContent = "copied";
  setTimeout(() => { button.textContent = "copy"; }, 1500);
}

function showCell(arch, rank) {
  const drawn = window.drawCell($("#cell"), arch);
  $("#cell-caption").textContent = drawn ? `(top ${rank})` : "(drawn for NB-201 and NATS cells only)";
}

// -- the event stream (fetch, so that the key goes in a header, never in the URL) -------------

async function follow(id, signal) {
  const response = await fetch(`/v1/searches/${id}/events`, {headers: authHeaders(), signal});
  if (response.status === 401) askKey();
  if (!response.ok) throw new ApiError(response.status, (await response.json().catch(() => ({}))).detail);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buffer += value.replaceAll("\r\n", "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      handleEvent(parseEvent(buffer.slice(0, end)));
      buffer = buffer.slice(end + 2);
    }
  }
}

function parseEvent(block) {
  const event = {type: "message", data: []};
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event.type = value;
    else if (field === "data") event.data.push(value);
  }
  return {type: event.type, data: event.data.length ? parseJson(event.data.join("\n")) : null};
}

function handleEvent({type, data}) {
  if (!data || data.id && data.id !== state.selected && type !== "evaluation") return;
  if (type === "evaluation") {
    state.evaluations.push(data);
    state.redraw = true;
  } else if (["status", "progress", "end"].includes(type)) {
    showStatus(data);
    const listed = document.querySelector(`#searches tbody tr[data-id="${data.id}"]`);
    if (listed) listed.replaceWith(searchRow(data));
    maybeReport(type === "end" || !ACTIVE.includes(data.status));
  }
  if (type === "end" || type === "status") refreshList();
}

// -- charts (Chart.js, served by the app) ------------------------------------------------------

const POINT = {pointRadius: 2.5, showLine: false};

function makeChart(canvas, xTitle, xType, datasets) {
  return new Chart(canvas, {
    type: "scatter",
    data: {datasets},
    options: {
      animation: false, responsive: true, maintainAspectRatio: false,
      scales: {x: {type: xType, title: {display: true, text: xTitle}}, y: {title: {display: true, text: "score"}}},
      plugins: {legend: {position: "bottom", labels: {boxWidth: 12}}},
    },
  });
}

function createCharts() {
  state.charts.steps = makeChart($("#chart-steps"), "evaluation step", "linear", [
    {label: "evaluation", data: [], backgroundColor: "rgba(25,113,194,0.55)", ...POINT},
    {label: "best so far", data: [], borderColor: "#d9480f", backgroundColor: "#d9480f", showLine: true, stepped: true, pointRadius: 0, borderWidth: 2},
  ]);
  state.charts.params = makeChart($("#chart-params"), "#params", "logarithmic", [
    {label: "evaluated", data: [], backgroundColor: "rgba(25,113,194,0.45)", ...POINT},
    {label: "top", data: [], borderColor: "#d9480f", backgroundColor: "rgba(0,0,0,0)", borderWidth: 2, pointRadius: 6, showLine: false},
  ]);
  state.charts.ops = new Chart($("#chart-ops"), {
    type: "bar",
    data: {labels: [], datasets: [
      {label: "space (base rate)", data: [], backgroundColor: "#9aa5b1"},
      {label: "top-k", data: [], backgroundColor: "#d9480f"},
    ]},
    // horizontal bars, every label shown: 30 values (NB-201's 6 edges x 5 ops) stay readable as the panel grows with them
    options: {
      indexAxis: "y", animation: false, responsive: true, maintainAspectRatio: false, plugins: {legend: {position: "bottom"}},
      scales: {x: {title: {display: true, text: "share of the position's decisions"}}, y: {ticks: {autoSkip: false, font: {size: 11}}}},
    },
  });
}

function clearCharts() {
  for (const chart of Object.values(state.charts)) {
    chart.data.datasets.forEach((d) => { d.data = []; });
    chart.update("none");
  }
  $("#bias tbody").replaceChildren();
  $("#top tbody").replaceChildren();
  $("#cell").replaceChildren();
  Pareto.clear();
}

// Redraw the plots at most once per animation frame, however fast evaluations arrive.
function drawCharts() {
  if (state.redraw && state.charts.steps) {
    state.redraw = false;
    const finite = state.evaluations.filter((e) => e.score !== null);
    let best = -Infinity;
    const bestLine = finite.map((e) => ({x: e.step, y: (best = Math.max(best, e.score))}));
    state.charts.steps.data.datasets[0].data = finite.map((e) => ({x: e.step, y: e.score}));
    state.charts.steps.data.datasets[1].data = bestLine;
    state.charts.params.data.datasets[0].data = finite.map((e) => ({x: e.params, y: e.score}));
    state.charts.params.data.datasets[1].data = state.top.filter((e) => e.score !== null).map((e) => ({x: e.params, y: e.score}));
    state.charts.steps.update("none");
    state.charts.params.update("none");
    Pareto.draw(state.evaluations);
  }
  requestAnimationFrame(drawCharts);
}

// -- the bias panel -----------------------------------------------------------------------------

async function maybeReport(final) {
  const now = Date.now();
  if (!final && now - state.lastReport < REPORT_EVERY_MS) return;
  state.lastReport = now;
  const id = state.selected;
  const report = await api(`/v1/searches/${id}/report`).catch(() => null);
  if (report && id === state.selected && report.n > 0) showReport(report);
}

function fixed(value) {
  return value === null || value === undefined ? "n/a" : value.toFixed(3);
}

function showReport(report) {
  const free = report.ops.parameter_free;
  const rows = [
    ["evaluations", `${report.n} (${report.singular} singular)`],
    ["Kendall score vs #params", fixed(report.size.params.kendall)],
    ["Spearman score vs #params", fixed(report.size.params.spearman)],
    ["Kendall score vs FLOPs", fixed(report.size.flops.kendall)],
    ["Spearman score vs FLOPs", fixed(report.size.flops.spearman)],
    ["top-k for op shares", String(report.ops.top_k)],
  ];
  if (free) rows.push(["parameter-free ops in top-k / space", `${fixed(free.top_rate)} / ${fixed(free.base_rate)} (×${fixed(free.ratio)})`]);
  $("#bias tbody").replaceChildren(...rows.map(([name, value]) => {
    const row = document.createElement("tr");
    row.append(cell(name), cell(value, "mono"));
    return row;
  }));
  const chart = state.charts.ops;
  chart.canvas.parentElement.style.height = `${Math.max(280, OPS_ROW_PX * report.ops.ops.length + 90)}px`;
  chart.data.labels = report.ops.ops.map((o) => `${o.position}=${o.value}`);
  chart.data.datasets[0].data = report.ops.ops.map((o) => o.base_rate);
  chart.data.datasets[1].data = report.ops.ops.map((o) => o.top_rate);
  chart.data.datasets[1].label = `top ${report.ops.top_k}`;
  chart.update("none");
}

// -- start-up -----------------------------------------------------------------------------------

async function boot() {
  // each panel loads on its own: one that fails (shown in the header) leaves the others working
  const results = await Promise.allSettled([loadSpaces(), loadStrategies(), loadScores(), refreshList()]);
  const failed = results.filter((r) => r.status === "rejected").map((r) => r.reason);
  const needsKey = failed.some((error) => error.status === 401);
  $("#server-status").textContent = needsKey ? "API key needed" : failed.length ? `error: ${failed[0].message}` : state.key ? "key in use" : "";
}

function init() {
  createCharts();
  Pareto.create();
  $("#key-form").addEventListener("submit", useKey);
  $("#key-button").addEventListener("click", () => askKey());
  $("#search-form").addEventListener("submit", startSearch);
  $("#f-strategy").addEventListener("change", showStrategyParams);
  $("#d-cancel").addEventListener("click", () => state.selected && cancelSearch(state.selected));
  $("#page-newer").addEventListener("click", () => turnPage(-1));
  $("#page-older").addEventListener("click", () => turnPage(1));
  window.addEventListener("popstate", followAddress);
  if (linkedId()) select(linkedId());
  requestAnimationFrame(drawCharts);
  setInterval(() => { if (!$("#key-dialog").open) refreshList().catch(() => {}); }, LIST_POLL_MS);
  boot();
}

document.addEventListener("DOMContentLoaded", init);

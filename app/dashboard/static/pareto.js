// The Pareto panel of a multi-objective search: score against its first minimised cost, the front's points,
// its staircase (the best score the front offers at each cost: across, then up) and the front's table.
"use strict";

const Pareto = (() => {
  let chart = null;
  let cost = null;       // the first minimised cost of the search shown, or null when it minimises none
  let costs = [];        // every cost it minimises
  let front = [];        // its front, as the job reports it (sorted by the first cost)
  const COST_LABELS = {params: "params", flops: "FLOPs", latency_ms: "latency ms"};  // as the top table heads them

  function create() {
    chart = new Chart(document.querySelector("#chart-pareto"), {
      type: "scatter",
      data: {datasets: [
        {label: "evaluated", data: [], backgroundColor: "rgba(25,113,194,0.45)", pointRadius: 2.5, showLine: false},
        {label: "Pareto front", data: [], borderColor: "#d9480f", backgroundColor: "#d9480f", showLine: false, pointRadius: 4},
        {label: "best score at each cost", data: [], borderColor: "#d9480f", backgroundColor: "#d9480f", showLine: true, pointRadius: 0, borderWidth: 2},
      ]},
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        scales: {x: {type: "linear", title: {display: true, text: "cost"}}, y: {title: {display: true, text: "score"}}},
        plugins: {legend: {position: "bottom", labels: {boxWidth: 12}}},
      },
    });
  }

  function clear() {
    cost = null;
    costs = [];
    front = [];
    document.querySelector("#pareto-block").hidden = true;
    document.querySelector("#pareto tbody").replaceChildren();
    if (chart) chart.data.datasets.forEach((d) => { d.data = []; });
  }

  // A job view: shows the panel when the search minimises a cost, and its front's table.
  function show(job) {
    costs = (job.request && job.request.minimize) || [];
    cost = costs.length ? costs[0] : null;
    document.querySelector("#pareto-block").hidden = cost === null;
    if (cost === null) return;
    front = job.pareto || [];
    chart.options.scales.x.title.text = cost;
    document.querySelector("#pareto-caption").textContent = `score against ${cost}: the ${front.length} evaluations no other one beats on the score and on ${costs.join(", ")}`;
    document.querySelector("#pareto thead").replaceChildren(header());
    document.querySelector("#pareto tbody").replaceChildren(...front.map(row));
  }

  function header() {
    const tr = document.createElement("tr");
    for (const name of ["step", "score", ...costs.map((c) => COST_LABELS[c] || c), "encoding"]) {
      const th = document.createElement("th");
      th.textContent = name;
      tr.append(th);
    }
    return tr;
  }

  // A cost as the top table writes it: latency in ms, counts as "428.3 k".
  function formatCost(name, value) {
    return name === "latency_ms" ? formatLatency(value) : formatCount(value);
  }

  function row(e) {
    const tr = document.createElement("tr");
    const values = [String(e.step), formatScore(e), ...costs.map((c) => formatCost(c, e[c])), e.arch];
    values.forEach((value, i) => {
      const td = document.createElement("td");
      td.textContent = value;
      if (i > 0 && i < values.length - 1) td.className = "num";  // score and costs: never broken inside
      tr.append(td);
    });
    tr.lastChild.className = "arch";
    return tr;
  }

  // The corners of the front's staircase: at each cost the best score of a front point costing no more,
  // so the line runs across at a score until the cost that buys a better one, then up; it ends at `right`.
  // With several costs a front point may not raise the best of the first cost: it adds no step.
  function staircase(points, right) {
    const sorted = [...points].sort((a, b) => a.x - b.x || b.y - a.y);
    const corners = [];
    let best = -Infinity;
    for (const {x, y} of sorted) {
      if (y <= best) continue;
      if (corners.length) corners.push({x, y: best});
      corners.push({x, y});
      best = y;
    }
    if (corners.length && right > corners[corners.length - 1].x) corners.push({x: right, y: best});
    return corners;
  }

  // Every evaluation as a point, the front's points and its staircase (finite scores and measured costs only).
  function draw(evaluations) {
    if (!chart || cost === null) return;
    const plotted = (e) => e.score !== null && e[cost] !== null && e[cost] !== undefined;
    const point = (e) => ({x: e[cost], y: e.score});
    const evaluated = evaluations.filter(plotted).map(point);
    const onFront = front.filter(plotted).map(point);
    chart.data.datasets[0].data = evaluated;
    chart.data.datasets[1].data = onFront;
    chart.data.datasets[2].data = staircase(onFront, Math.max(...evaluated.map((p) => p.x), ...onFront.map((p) => p.x)));
    chart.update("none");
  }

  return {create, clear, show, draw, staircase};
})();

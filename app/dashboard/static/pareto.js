// The Pareto panel of a multi-objective search: score against its first minimised cost, the front as a line, and the front's table.
"use strict";

const Pareto = (() => {
  let chart = null;
  let cost = null;       // the first minimised cost of the search shown, or null when it minimises none
  let costs = [];        // every cost it minimises
  let front = [];        // its front, as the job reports it (sorted by the first cost)

  function create() {
    chart = new Chart(document.querySelector("#chart-pareto"), {
      type: "scatter",
      data: {datasets: [
        {label: "evaluated", data: [], backgroundColor: "rgba(25,113,194,0.45)", pointRadius: 2.5, showLine: false},
        {label: "Pareto front", data: [], borderColor: "#d9480f", backgroundColor: "#d9480f", showLine: true, stepped: "after", pointRadius: 4, borderWidth: 2},
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
    for (const name of ["step", "score", ...costs, "encoding"]) {
      const th = document.createElement("th");
      th.textContent = name;
      tr.append(th);
    }
    return tr;
  }

  function row(e) {
    const tr = document.createElement("tr");
    const values = [String(e.step), e.score === null ? "singular" : e.score.toFixed(3), ...costs.map((c) => (e[c] === null || e[c] === undefined ? "-" : String(e[c]))), e.arch];
    for (const value of values) {
      const td = document.createElement("td");
      td.textContent = value;
      tr.append(td);
    }
    tr.lastChild.className = "arch";
    return tr;
  }

  // Every evaluation as a point, and the front as a line (finite scores and measured costs only).
  function draw(evaluations) {
    if (!chart || cost === null) return;
    const plotted = (e) => e.score !== null && e[cost] !== null && e[cost] !== undefined;
    chart.data.datasets[0].data = evaluations.filter(plotted).map((e) => ({x: e[cost], y: e.score}));
    chart.data.datasets[1].data = front.filter(plotted).map((e) => ({x: e[cost], y: e.score}));
    chart.update("none");
  }

  return {create, clear, show, draw};
})();

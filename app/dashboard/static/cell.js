// An NB-201 / NATS cell as its small graph: 4 nodes, 6 edges, the op written on each edge.
"use strict";

// The NATS size space repeats this one cell; only its channel counts vary.
const NATS_SSS_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|";
const NODE_X = [40, 190, 340, 490];
const NODE_Y = 120;
const OP_COLOURS = {none: "#adb5bd", skip_connect: "#2f9e44", nor_conv_1x1: "#1971c2", nor_conv_3x3: "#5f3dc4", avg_pool_3x3: "#e8590c"};

// [{from, to, op}] of an NB-201 arch string, or null when the string is not one.
function cellEdges(arch) {
  const groups = String(arch).split("+");
  if (groups.length !== 3) return null;
  const edges = [];
  groups.forEach((group, index) => {
    for (const match of group.matchAll(/\|([a-z0-9_]+)~(\d)/g)) edges.push({from: Number(match[2]), to: index + 1, op: match[1]});
  });
  return edges.length === 6 ? edges : null;
}

// The SVG path of edge i->j: straight between neighbours, arcs above (from node 0) or below otherwise.
function edgePath(from, to) {
  const [x1, x2] = [NODE_X[from], NODE_X[to]];
  const lift = to - from === 1 ? 0 : (from === 0 ? -45 * (to - from) : 70);
  const midX = (x1 + x2) / 2, midY = NODE_Y + lift * 1.4;
  return {d: `M ${x1} ${NODE_Y} Q ${midX} ${midY} ${x2} ${NODE_Y}`, labelX: midX, labelY: NODE_Y + lift * 0.7 - 6};
}

function svgElement(name, attributes, text) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

// Draw `arch` (NB-201 string, or a NATS size-space channel list) into `container`; false when it is neither.
function drawCell(container, arch) {
  container.replaceChildren();
  const channels = /^\d+(:\d+){4}$/.test(String(arch)) ? String(arch).split(":") : null;
  const edges = cellEdges(channels ? NATS_SSS_CELL : arch);
  if (!edges) return false;
  const svg = svgElement("svg", {viewBox: "0 0 530 240", role: "img", "aria-label": "cell graph", class: "cell-graph"});
  for (const edge of edges) {
    const path = edgePath(edge.from, edge.to);
    const colour = OP_COLOURS[edge.op] || "#343a40";
    svg.append(svgElement("path", {d: path.d, fill: "none", stroke: colour, "stroke-width": 2.5, "stroke-dasharray": edge.op === "none" ? "5 4" : "none", class: "edge"}));
    svg.append(svgElement("text", {x: path.labelX, y: path.labelY, "text-anchor": "middle", fill: colour, class: "edge-label"}, edge.op));
  }
  NODE_X.forEach((x, node) => {
    svg.append(svgElement("circle", {cx: x, cy: NODE_Y, r: 16, class: "node"}));
    svg.append(svgElement("text", {x, y: NODE_Y + 5, "text-anchor": "middle", class: "node-label"}, String(node)));
  });
  if (channels) svg.append(svgElement("text", {x: 265, y: 232, "text-anchor": "middle", class: "channels"}, `channels ${channels.join(" : ")} (fixed cell)`));
  container.append(svg);
  return true;
}

window.drawCell = drawCell;

// How the dashboard writes numbers: scores with 2 decimals, counts as "428.3 k", latencies with 3 digits, durations.
"use strict";

function formatScore(e) {
  if (!e) return "–";
  return e.singular || e.score === null ? "singular" : e.score.toFixed(2);
}

// A recorded score's value as the score column writes it ("undefined" for null: the score has no value on that network).
function formatValue(value) {
  if (value === undefined) return "–";
  return value === null ? "undefined" : value.toFixed(2);
}

// A measured latency in milliseconds ("–" when the search did not measure it).
function formatLatency(ms) {
  if (ms === null || ms === undefined) return "–";
  return ms >= 100 ? ms.toFixed(0) : ms.toPrecision(3);
}

function formatCount(n) {
  if (n === null || n === undefined) return "–";
  if (n >= 1e9) return (n / 1e9).toFixed(2) + " G";
  if (n >= 1e6) return (n / 1e6).toFixed(2) + " M";
  if (n >= 1e3) return (n / 1e3).toFixed(1) + " k";
  return String(n);
}

function formatSeconds(s) {
  if (s < 60) return s.toFixed(1) + " s";
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

// The classroom's small scripts: charts (uPlot, vendored), live refresh, the join form's seat choice.
"use strict";

const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];

function readJson(id) {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : null;
}

function lineChart(target, title, weeks, series, height) {
  const opts = {
    title: title,
    width: Math.min(target.clientWidth || 720, 900),
    height: height || 220,
    scales: { x: { time: false } },
    axes: [{ label: "week", incrs: [1, 2, 5, 10, 20, 50, 100] }, {}],
    legend: { live: false },
    series: [{ label: "week" }].concat(
      series.map((s, i) => ({ label: s.label, stroke: s.colour || COLOURS[i % COLOURS.length], width: 2, dash: s.dash }))
    ),
  };
  const data = [weeks.map((w) => w + 1)].concat(series.map((s) => s.values));
  return new uPlot(opts, data, target);
}

function drawPlayChart() {
  const data = readJson("chart-data");
  const target = document.getElementById("chart");
  if (!data || !target || data.week.length === 0) return;
  const last = Math.max(0, data.week.length - 20);  // the last weeks only
  const cut = (values) => values.slice(last);
  lineChart(target, "Your last weeks", cut(data.week), [
    { label: "net inventory", values: cut(data.net_inventory) },
    { label: "your order", values: cut(data.order) },
    { label: "incoming order", values: cut(data.incoming_order), dash: [6, 4] },
  ]);
}

function drawDebriefCharts() {
  const data = readJson("echelon-data");
  const target = document.getElementById("echelon-charts");
  if (!data || !target) return;
  const column = (rows, k) => rows.map((row) => row[k]);
  const inventory = data.echelons.map((name, k) => ({ label: name, values: column(data.net_inventory, k) }));
  const orders = data.echelons.map((name, k) => ({ label: name, values: column(data.order, k) }));
  orders.push({ label: "customer demand", values: data.demand, colour: "#000", dash: [6, 4] });
  const top = document.createElement("div");
  const bottom = document.createElement("div");
  target.append(top, bottom);
  lineChart(top, "Net inventory (on hand − backlog)", data.week, inventory, 260);
  lineChart(bottom, "Orders placed", data.week, orders, 260);
}

// A classroom seat waits for its teammates: reload when the game's week or status changes.
function watchSeat() {
  const game = document.getElementById("game");
  if (!game || game.dataset.status === "finished") return;
  const waiting = document.getElementById("waiting-team") || document.getElementById("waiting-start");
  const countdown = document.getElementById("countdown");
  if (!waiting && !countdown) return;
  setInterval(async () => {
    try {
      const reply = await fetch(`/seat/${game.dataset.token}/status`, { cache: "no-store" });
      const now = await reply.json();
      if (String(now.week) !== game.dataset.week || now.status !== game.dataset.status) {
        // keep what the player was typing out of it: only reload when the form is empty
        const field = document.getElementById("quantity");
        if (!field || field.value === "" || now.week !== Number(game.dataset.week)) window.location.reload();
      }
    } catch (error) { /* the server restarts: try again on the next tick */ }
  }, 1000);
  if (countdown) {
    const tick = () => {
      const left = Math.max(0, Math.round(Number(countdown.dataset.deadline) - Date.now() / 1000));
      countdown.textContent = `${left} s`;
    };
    tick();
    setInterval(tick, 1000);
  }
}

// The teacher's dashboard: the teams table, fetched again every two seconds (rendered by the server).
function watchDashboard() {
  const teams = document.getElementById("teams");
  if (!teams) return;
  setInterval(async () => {
    try {
      const reply = await fetch(teams.dataset.refresh, { cache: "no-store" });
      if (reply.ok) teams.innerHTML = await reply.text();
      const start = document.getElementById("start-form");
      const status = document.getElementById("class-status");
      if (start && status && status.dataset.status !== "open") start.remove();
    } catch (error) { /* the server restarts: try again */ }
  }, 2000);
}

document.addEventListener("DOMContentLoaded", () => {
  drawPlayChart();
  drawDebriefCharts();
  watchSeat();
  watchDashboard();
});

// Draws the desk's charts with the vendored Chart.js from data the server embedded as JSON.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  if (typeof Chart === "undefined") return;
  const palette = ["#1f4e9c", "#b3261e", "#1e6b3a", "#8a5a00", "#6a3d9a", "#00838f", "#5b6475"];
  const read = (id) => {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  };
  const charts = read("chart-data");
  const report = read("report-data");
  const draw = (name, config) => {
    const canvas = document.querySelector(`canvas[data-chart="${name}"]`);
    if (canvas) canvas.chart = new Chart(canvas, { ...config, options: { animation: false, maintainAspectRatio: false, ...config.options } });
  };
  if (charts) {
    draw("per-week", {
      type: "bar",
      data: {
        labels: charts.weeks,
        datasets: Object.entries(charts.per_week_by_kind).map(([kind, counts], i) => ({
          label: kind.replace("_", " "), data: counts, backgroundColor: palette[i % palette.length],
        })),
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
    });
    draw("days", {
      type: "line",
      data: {
        labels: charts.months,
        datasets: [
          { label: "median", data: charts.median_days, borderColor: palette[0], backgroundColor: palette[0], spanGaps: true },
          { label: "95th percentile", data: charts.p95_days, borderColor: palette[1], backgroundColor: palette[1], spanGaps: true },
        ],
      },
      options: { scales: { y: { beginAtZero: true, title: { display: true, text: "days" } } } },
    });
    draw("on-time", {
      type: "bar",
      data: { labels: charts.months, datasets: [{ label: "on time (%)", data: charts.on_time_rate, backgroundColor: palette[2] }] },
      options: { scales: { y: { beginAtZero: true, max: 100 } } },
    });
  }
  if (report) {
    draw("report-kind", {
      type: "bar",
      data: { labels: Object.keys(report.by_kind), datasets: [{ label: "requests", data: Object.values(report.by_kind), backgroundColor: palette[0] }] },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } }, plugins: { legend: { display: false } } },
    });
    draw("report-deadline", {
      type: "doughnut",
      data: {
        labels: ["on time", "late", "still open"],
        datasets: [{ data: [report.on_time, report.late, report.still_open], backgroundColor: [palette[2], palette[1], palette[3]] }],
      },
    });
  }
});

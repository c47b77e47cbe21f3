// Follow-up reports: figures table, IVR hang-ups and three charts (Chart.js,
// served from /web/vendor). The range comes from the form or the page's query.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const levelColours = ["#c62828", "#ef6c00", "#f9a825", "#2e7d32", "#1565c0"];
  const hours = Array.from({ length: 24 }, (_, h) => String(h).padStart(2, "0"));
  const charts = {};
  const fmt = (v) => (v == null ? "-" : (Math.round(v * 10) / 10).toString());
  const pct = (v) => (v == null ? "-" : Math.round(v * 100) + " %");
  const isoDay = (d) => d.toISOString().slice(0, 10);

  function initialRange() {
    const q = new URLSearchParams(location.search);
    const today = new Date();
    const start = new Date(today.getTime() - 27 * 86400000);
    $("period").value = q.get("period") || "week";
    $("from").value = q.get("from") || isoDay(start);
    $("to").value = q.get("to") || isoDay(today);
  }

  function query(format) {
    const q = new URLSearchParams({ period: $("period").value, from: $("from").value, to: $("to").value });
    if (format) q.set("format", format);
    return "/reports?" + q.toString();
  }

  function draw(id, config) {
    if (charts[id]) charts[id].destroy();
    config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false }, config.options);
    charts[id] = new Chart($(id), config);
  }

  function drawCharts(c) {
    draw("chart-waits", {
      type: "line",
      data: {
        labels: hours,
        datasets: c.waits_by_hour.map((l, i) => ({
          label: "Level " + l.level, data: l.wait_p50_min, borderColor: levelColours[i],
          backgroundColor: levelColours[i], spanGaps: true,
        })),
      },
      options: { scales: { y: { title: { display: true, text: "minutes" }, beginAtZero: true } } },
    });
    draw("chart-arrivals", {
      type: "bar",
      data: {
        labels: hours,
        datasets: [
          { type: "bar", label: "Contacts per hour", data: c.arrivals_by_hour, backgroundColor: "#1e5aa8", yAxisID: "y" },
          { type: "line", label: "Nurses on duty", data: c.nurses_by_hour, borderColor: "#2e7d32", backgroundColor: "#2e7d32", yAxisID: "y1" },
        ],
      },
      options: {
        scales: {
          y: { beginAtZero: true, title: { display: true, text: "contacts" } },
          y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false }, title: { display: true, text: "nurses" } },
        },
      },
    });
    const weeks = c.within_target_by_week;
    draw("chart-target", {
      type: "line",
      data: {
        labels: weeks.map((w) => w.week_start),
        datasets: [0, 1, 2, 3, 4].map((i) => ({
          label: "Level " + (i + 1), data: weeks.map((w) => (w.levels[i] == null ? null : w.levels[i] * 100)),
          borderColor: levelColours[i], backgroundColor: levelColours[i], spanGaps: true,
        })).concat([{
          label: "All levels", data: weeks.map((w) => (w.all == null ? null : w.all * 100)),
          borderColor: "#1d2733", backgroundColor: "#1d2733", borderDash: [6, 4],
        }]),
      },
      options: { scales: { y: { min: 0, max: 100, title: { display: true, text: "% within target" } } } },
    });
  }

  function renderTable(rows) {
    const body = $("figures").querySelector("tbody");
    body.replaceChildren();
    for (const r of rows) {
      const tr = PE.el("tr", "level-row-" + r.level);
      const cells = [r.period_start, PE.channelName(r.channel), null, r.unit, r.contacts, r.answered,
        fmt(r.wait_p50_min), fmt(r.wait_p90_min), fmt(r.wait_max_min),
        pct(r.within_target_share) + " (" + r.within_target + "/" + r.needing_nurse + ")",
        r.first_attempt_reached, r.unreachable, r.self_care, r.handoffs_out,
        fmt(r.estimate_error_p50_min), fmt(r.estimate_error_p90_min)];
      for (const v of cells) {
        const td = PE.el("td", null, v === null ? undefined : v);
        if (v === null) td.append(PE.levelBadge(r.level));
        tr.append(td);
      }
      body.append(tr);
    }
  }

  function renderAbandoned(rows) {
    const body = $("abandoned").querySelector("tbody");
    body.replaceChildren();
    for (const a of rows) {
      const tr = PE.el("tr");
      tr.append(PE.el("td", null, a.period_start), PE.el("td", null, a.node), PE.el("td", null, a.count));
      body.append(tr);
    }
  }

  async function load() {
    $("error").textContent = "";
    $("export-csv").href = "/api/v1" + query("csv");
    $("export-json").href = "/api/v1" + query("json");
    try {
      const r = (await PE.api("GET", query())).data;
      renderTable(r.rows);
      renderAbandoned(r.abandoned);
      drawCharts(r.charts);
      document.body.dataset.loaded = "1";
    } catch (e) {
      $("error").textContent = e.message;
    }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    await PE.whoami();
    initialRange();
    $("range").addEventListener("submit", (e) => { e.preventDefault(); load(); });
    load();
  });
})();

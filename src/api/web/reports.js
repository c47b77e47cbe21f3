// Follow-up reports: figures table, IVR hang-ups, three charts (Chart.js,
// served from /web/vendor) and the survey summary. The range comes from the
// form or the page's query. Everything is drawn again on a language switch.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const levelColours = ["#c62828", "#ef6c00", "#f9a825", "#2e7d32", "#1565c0"];
  const hours = Array.from({ length: 24 }, (_, h) => String(h).padStart(2, "0"));
  const charts = {};
  const isoDay = (d) => d.toISOString().slice(0, 10);
  // The last answers, kept to draw again in the other language.
  let report = null;
  let survey = null;
  let unitNames = {};

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
    config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false, locale: I18N.locale() },
      config.options);
    charts[id] = new Chart($(id), config);
  }

  const axis = (id, extra) => Object.assign({ title: { display: true, text: I18N.t(id) } }, extra);

  function drawCharts(c) {
    draw("chart-waits", {
      type: "line",
      data: {
        labels: hours,
        datasets: c.waits_by_hour.map((l, i) => ({
          label: PE.levelName(l.level), data: l.wait_p50_min, borderColor: levelColours[i],
          backgroundColor: levelColours[i], spanGaps: true,
        })),
      },
      options: { scales: { x: axis("rep.axis_hour"), y: axis("rep.axis_minutes", { beginAtZero: true }) } },
    });
    draw("chart-arrivals", {
      type: "bar",
      data: {
        labels: hours,
        datasets: [
          { type: "bar", label: I18N.t("rep.contacts_per_hour"), data: c.arrivals_by_hour, backgroundColor: "#1e5aa8", yAxisID: "y" },
          { type: "line", label: I18N.t("rep.nurses_on_duty"), data: c.nurses_by_hour, borderColor: "#2e7d32",
            backgroundColor: "#2e7d32", yAxisID: "y1" },
        ],
      },
      options: {
        scales: {
          x: axis("rep.axis_hour"),
          y: axis("rep.axis_contacts", { beginAtZero: true }),
          y1: axis("rep.axis_nurses", { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } }),
        },
      },
    });
    const weeks = c.within_target_by_week;
    draw("chart-target", {
      type: "line",
      data: {
        labels: weeks.map((w) => I18N.date(w.week_start)),
        datasets: [0, 1, 2, 3, 4].map((i) => ({
          label: PE.levelName(i + 1), data: weeks.map((w) => (w.levels[i] == null ? null : w.levels[i] * 100)),
          borderColor: levelColours[i], backgroundColor: levelColours[i], spanGaps: true,
        })).concat([{
          label: I18N.t("rep.all_levels"), data: weeks.map((w) => (w.all == null ? null : w.all * 100)),
          borderColor: "#1d2733", backgroundColor: "#1d2733", borderDash: [6, 4],
        }]),
      },
      options: { scales: { x: axis("rep.axis_week"), y: axis("rep.axis_within", { min: 0, max: 100 }) } },
    });
  }

  function renderTable(rows) {
    const body = $("figures").querySelector("tbody");
    body.replaceChildren();
    const n = (v) => I18N.number(v, 0);
    for (const r of rows) {
      const tr = PE.el("tr", "level-row-" + r.level);
      const cells = [I18N.date(r.period_start), PE.channelName(r.channel), null, r.unit, n(r.contacts), n(r.answered),
        I18N.number(r.wait_p50_min), I18N.number(r.wait_p90_min), I18N.number(r.wait_max_min),
        I18N.percent(r.within_target_share) + " (" + n(r.within_target) + "/" + n(r.needing_nurse) + ")",
        n(r.first_attempt_reached), n(r.unreachable), n(r.self_care), n(r.handoffs_out),
        I18N.number(r.estimate_error_p50_min), I18N.number(r.estimate_error_p90_min)];
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
      tr.append(PE.el("td", null, I18N.date(a.period_start)), PE.el("td", null, a.node), PE.el("td", null, I18N.number(a.count, 0)));
      body.append(tr);
    }
  }

  const unitName = (id) => unitNames[id] || id;

  // The survey summary takes UTC times: `ymd` + `days` at 00:00 in Stockholm,
  // as the reports' own dates are local days. (The offset at 00:00 UTC is the
  // one at local midnight: the switches happen at 01:00 UTC.)
  function stockholmMidnight(ymd, days) {
    const utc = new Date(ymd + "T00:00:00Z");
    utc.setUTCDate(utc.getUTCDate() + days);
    const hour = Number(new Intl.DateTimeFormat("en-GB", { timeZone: "Europe/Stockholm", hour: "2-digit", hourCycle: "h23" })
      .format(utc));
    return new Date(utc.getTime() - hour * 3600000).toISOString();
  }

  function groupName(kind, key) {
    if (kind === "all") return I18N.t("rep.group_all");
    if (kind === "channel") return I18N.t("rep.group_channel", { name: PE.channelName(key) });
    if (kind === "level") return I18N.t("rep.group_level", { level: key, name: I18N.word("level", key) });
    return I18N.t("rep.group_unit", { name: unitName(key) });
  }

  // One row per group and question; data-group/data-question for the tests.
  function renderSurvey(s) {
    const body = $("survey-table").querySelector("tbody");
    body.replaceChildren();
    I18N.set($("survey-total"), s.overall.responses ? "rep.survey_total" : "rep.survey_none",
      { n: I18N.number(s.overall.responses, 0) });
    const groups = [["all", s.overall]].concat(
      s.by_channel.map((g) => ["channel", g]), s.by_level.map((g) => ["level", g]), s.by_unit.map((g) => ["unit", g]));
    for (const [kind, g] of groups) {
      g.questions.forEach((q, i) => {
        const tr = PE.el("tr");
        tr.dataset.group = kind + ":" + g.key;
        tr.dataset.question = q.question;
        if (i === 0) {
          const head = PE.el("th", null, groupName(kind, g.key));
          head.scope = "row";
          head.rowSpan = g.questions.length;
          tr.append(head);
        }
        const dist = Object.entries(q.distribution)
          .sort((a, b) => Number(a[0]) - Number(b[0]))
          .map(([digit, count]) => digit + " × " + I18N.number(count, 0)).join(", ");
        tr.append(PE.el("td", null, I18N.word("survey_q", q.question)), PE.el("td", "answered", I18N.number(q.answered, 0)),
          PE.el("td", "mean", I18N.number(q.mean, 2)), PE.el("td", "distribution", dist));
        body.append(tr);
      });
    }
  }

  function renderAll() {
    if (report) {
      renderTable(report.rows);
      renderAbandoned(report.abandoned);
      drawCharts(report.charts);
    }
    if (survey) renderSurvey(survey);
  }

  async function loadUnits() {
    try {
      const units = (await PE.api("GET", "/units")).data;
      unitNames = Object.fromEntries(units.map((u) => [u.id, u.name]));
    } catch (_) { /* ids are shown instead */ }
  }

  async function load() {
    I18N.set($("error"), null);
    $("export-csv").href = "/api/v1" + query("csv");
    $("export-json").href = "/api/v1" + query("json");
    try {
      const range = new URLSearchParams({ from: stockholmMidnight($("from").value, 0),
        to: stockholmMidnight($("to").value, 1) });
      const [r, s] = await Promise.all([PE.api("GET", query()), PE.api("GET", "/surveys/summary?" + range.toString())]);
      report = r.data;
      survey = s.data;
      renderAll();
      document.body.dataset.loaded = "1";
    } catch (e) {
      I18N.set($("error"), "app.could_not_load", { error: e.message });
    }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    await PE.whoami();
    initialRange();
    $("range").addEventListener("submit", (e) => { e.preventDefault(); load(); });
    document.addEventListener("pe:lang", renderAll);
    await loadUnits();
    load();
  });
})();

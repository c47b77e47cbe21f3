// Supervisor page: statistics (refreshed live) and the settings form.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  let closures = [];
  let messages = [];
  let lastStats = null;
  let liveSummary = null;
  const status = (id, params) => I18N.set($("settings-status"), id, params);

  async function loadStats() {
    try {
      const s = (await PE.api("GET", "/supervisor/stats", undefined, true)).data;
      lastStats = s;
      renderStats(s);
    } catch (x) { status("sup.could_not_stats", { error: x.message }); }
  }

  function renderStats(s) {
    $("s-waiting").textContent = s.waiting_total;
    $("s-oldest").textContent = s.oldest_wait_seconds == null ? "-" : PE.duration(s.oldest_wait_seconds * 1000);
    $("s-share").textContent = s.share_within_target_today == null ? "-" : Math.round(s.share_within_target_today * 100) + " %";
    $("s-nurses").textContent = s.nurses_on_duty;
    $("s-ivr").textContent = s.calls_in_ivr;
    $("s-callbacks").textContent = s.callbacks_today + " / " + s.callback_capacity;
    $("s-offer").textContent = I18N.word("offer", s.callback_offer);
    $("s-offer").dataset.offer = s.callback_offer;
    $("s-unreachable").textContent = s.unreachable_today;
    // The list is an audited read: fetch it only when the count moves.
    if (s.unreachable_today !== shownUnreachable) loadUnreachable(s.unreachable_today);
    $("s-review").textContent = s.in_review;
    $("review-tile").classList.toggle("alert", s.in_review > 0);
    if (s.in_review !== shownReview) loadReview(s.in_review);
    renderOverdue(s.overdue);
    renderUnitWaits(s.units || []);
    renderSelfCare(s);
    $("s-refused").textContent = s.refused_today;
    $("refused-tile").classList.toggle("alert", s.refused_today > 0);
    $("s-store-failures").textContent = s.case_store_failures;
    $("store-tile").classList.toggle("alert", s.case_store_failures > 0);
    $("s-fallback").textContent = s.fallback_failures > 0
      ? I18N.t("sup.not_answered", { count: s.fallback_transfers, failed: s.fallback_failures })
      : s.fallback_transfers;
    $("fallback-tile").classList.toggle("alert", s.fallback_transfers + s.fallback_failures > 0);
    const body = $("levels").querySelector("tbody");
    body.replaceChildren();
    for (const l of s.levels) {
      const tr = PE.el("tr", "level-row-" + l.level);
      const td = PE.el("td"); td.append(PE.levelBadge(l.level)); tr.append(td);
      tr.append(PE.el("td", null, l.waiting));
      tr.append(PE.el("td", null, l.estimated_wait_minutes == null ? "-" : I18N.t("sup.minutes", { n: l.estimated_wait_minutes })));
      body.append(tr);
      }
      // Screen readers hear the headline figures when they change.
      const summary = s.waiting_total + "/" + s.overdue.count;
      if (summary !== liveSummary) {
        liveSummary = summary;
        I18N.set($("stats-live"), "sup.stats_live", { waiting: s.waiting_total, overdue: s.overdue.count });
      }
  }

  // One line per care unit (units.toml): waiting, oldest wait, past deadline.
  function renderUnitWaits(units) {
    const body = $("unit-waits").querySelector("tbody");
    body.replaceChildren();
    for (const u of units) {
      const tr = PE.el("tr", "unit-row");
      tr.dataset.unit = u.unit;
      tr.append(PE.el("td", null, u.unconfigured ? I18N.t("sup.not_in_units", { unit: u.name }) : u.name));
      tr.append(PE.el("td", "unit-waiting", u.waiting));
      tr.append(PE.el("td", null, u.oldest_wait_seconds == null ? "-" : PE.duration(u.oldest_wait_seconds * 1000)));
      tr.append(PE.el("td", u.over_target > 0 ? "overdue" : null, u.over_target));
      body.append(tr);
    }
  }

  // The alert: open cases past their deadline, most urgent first.
  function renderOverdue(o) {
    $("s-overdue").textContent = o.count;
    $("overdue-tile").classList.toggle("alert", o.count > 0);
    $("overdue-next").textContent = o.next_alert_at ? I18N.t("sup.next_deadline", { time: clock(o.next_alert_at) }) : "";
    const body = $("overdue").querySelector("tbody");
    body.replaceChildren();
    for (const c of o.cases) {
      const tr = PE.el("tr", "overdue-row");
      const td = PE.el("td"); td.append(PE.levelBadge(c.level)); tr.append(td);
      const idCell = PE.el("td", "case-id", c.case_id.slice(0, 8)); idCell.title = c.case_id; tr.append(idCell);
      tr.append(PE.el("td", null, clock(c.deadline)));
      tr.append(PE.el("td", null, c.minutes_over));
      body.append(tr);
    }
    if (!o.cases.length) {
      const tr = PE.el("tr"); const td = PE.el("td", "muted", I18N.t("app.none")); td.colSpan = 4; tr.append(td); body.append(tr);
    }
  }

  // Self-care outcomes per route (counts only, no cases).
  function renderSelfCare(s) {
    const body = $("self-care").querySelector("tbody");
    body.replaceChildren();
    for (const r of s.self_care_today) {
      const tr = PE.el("tr", "self-care-row");
      tr.append(PE.el("td", null, r.route));
      tr.append(PE.el("td", null, r.advised));
      tr.append(PE.el("td", null, r.callback_requested));
      body.append(tr);
    }
    if (!s.self_care_today.length) {
      const tr = PE.el("tr"); const td = PE.el("td", "muted", I18N.t("app.none")); td.colSpan = 3; tr.append(td); body.append(tr);
    } else {
      const tr = PE.el("tr", "self-care-total");
      tr.append(PE.el("th", null, I18N.t("sup.all_routes")));
      tr.append(PE.el("th", null, s.self_care_advised_today));
      tr.append(PE.el("th", null, s.self_care_callbacks_today));
      body.append(tr);
    }
    $("closed-advice").textContent = I18N.t("sup.closed_advice", { count: s.closed_advice_today });
  }

  const clock = (iso) => I18N.time(iso);
  // A list of cases (no personal data) into the table `id`, one row per case
  // with the level, the short case id and `cells(c)`. The read is audited.
  async function loadCases(id, path, cells) {
    const body = $(id).querySelector("tbody");
    const width = $(id).querySelectorAll("thead th").length;
    const note = (text) => {
      const tr = PE.el("tr"); const td = PE.el("td", "muted", text); td.colSpan = width; tr.append(td); body.append(tr);
    };
    try {
      const cases = (await PE.api("GET", path, undefined, true)).data;
      body.replaceChildren();
      for (const c of cases) {
        const tr = PE.el("tr", id + "-row");
        const td = PE.el("td"); td.append(PE.levelBadge(c.priority)); tr.append(td);
        const idCell = PE.el("td", "case-id", c.id.slice(0, 8)); idCell.title = c.id; tr.append(idCell);
        for (const text of cells(c)) tr.append(PE.el("td", null, text));
        body.append(tr);
      }
      if (!cases.length) note(I18N.t("app.none"));
      return true;
    } catch (x) {
      body.replaceChildren();
      note(I18N.t("app.could_not_load", { error: x.message }));
      return false;
    }
  }

  let shownUnreachable = null;
  async function loadUnreachable(count) {
    shownUnreachable = count;
    const ok = await loadCases("unreachable", "/supervisor/unreachable",
      (c) => [clock(c.registered_at), clock(c.deadline), c.attempts, clock(c.closed_at)]);
    if (!ok) shownUnreachable = null;
  }

  let shownReview = null;
  async function loadReview(count) {
    shownReview = count;
    const ok = await loadCases("review", "/review",
      (c) => [I18N.word("review_short", c.review_reason), clock(c.registered_at), clock(c.deadline), c.attempts]);
    if (!ok) shownReview = null;
  }

  async function loadLockouts() {
    const body = $("lockouts").querySelector("tbody");
    const note = (text) => {
      const tr = PE.el("tr"); const td = PE.el("td", "muted", text); td.colSpan = 4; tr.append(td); body.append(tr);
    };
    try {
      const locks = (await PE.api("GET", "/supervisor/lockouts", undefined, true)).data;
      body.replaceChildren();
      for (const l of locks) {
        const tr = PE.el("tr", "lockout-row");
        tr.append(PE.el("td", null, I18N.t(l.scope === "sip_register" ? "sup.lock_sip" : "sup.lock_web")));
        tr.append(PE.el("td", null, l.name));
        tr.append(PE.el("td", null, clock(l.locked_until)));
        const td = PE.el("td");
        const lift = PE.el("button", "secondary", I18N.t("sup.lift"));
        lift.type = "button";
        lift.setAttribute("aria-label", I18N.t("sup.lift_label", { name: l.name }));
        lift.addEventListener("click", async () => {
          try { await PE.api("POST", "/supervisor/lockouts/lift", { kind: l.kind, name: l.name }); } catch (_) { /* gone already */ }
          loadLockouts();
        });
        td.append(lift); tr.append(td);
        body.append(tr);
      }
      if (!locks.length) note(I18N.t("app.none"));
    } catch (x) {
      body.replaceChildren();
      note(I18N.t("app.could_not_load", { error: x.message }));
    }
  }

  function renderClosures() {
    const ul = $("closures");
    ul.replaceChildren();
    closures.forEach((c, i) => {
      const from = I18N.dateTime(c.from);
      const li = PE.el("li", "closure", from + " – " + I18N.dateTime(c.to) + (c.reason ? ": " + c.reason : ""));
      const rm = PE.el("button", "secondary", I18N.t("sup.remove"));
      rm.type = "button";
      rm.setAttribute("aria-label", I18N.t("sup.remove_label", { from }));
      rm.addEventListener("click", () => { closures.splice(i, 1); renderClosures(); });
      li.append(rm);
      ul.append(li);
    });
    if (!closures.length) ul.append(PE.el("li", "muted", I18N.t("app.none")));
  }

  async function loadSettings() {
    const [s, msgs] = await Promise.all([
      PE.api("GET", "/supervisor/settings"), PE.api("GET", "/supervisor/messages"),
    ]);
    messages = msgs.data || [];
    fillMessages(s.data.greeting_message || "");
    $("offer-open").checked = s.data.callback_offer_open;
    $("capacity").value = s.data.callback_capacity;
    closures = s.data.closures || [];
    renderClosures();
  }

  // A message by its words in the page's language (the prompt manifest's
  // text), the id only when the manifest has no text for it.
  function fillMessages(chosen) {
    const sel = $("greeting");
    const none = PE.el("option");
    none.value = "";
    I18N.set(none, "sup.greeting_none");
    sel.replaceChildren(none);
    for (const m of messages) {
      const o = PE.el("option", null, m[I18N.lang] || m.sv || m.id);
      o.value = m.id;
      o.title = m.id;
      sel.append(o);
    }
    sel.value = chosen;
  }

  document.addEventListener("pe:lang", () => {
    fillMessages($("greeting").value);
    renderClosures();
    if (lastStats) renderStats(lastStats);
    if (shownUnreachable !== null) loadUnreachable(shownUnreachable);
    if (shownReview !== null) loadReview(shownReview);
    loadLockouts();
    loadForecast();
  });

  $("add-closure").addEventListener("click", () => {
    const from = $("closure-from").value, to = $("closure-to").value;
    if (!from || !to) { status("sup.give_both"); return; }
    closures.push({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), reason: $("closure-reason").value });
    $("closure-reason").value = "";
    renderClosures();
  });

  $("settings-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    status(null);
    try {
      await PE.api("PUT", "/supervisor/settings", {
        callback_capacity: Number($("capacity").value),
        callback_offer_open: $("offer-open").checked,
        greeting_message: $("greeting").value || null,
        closures,
      });
      status("sup.saved");
      await loadSettings();
      loadStats();
    } catch (x) { status("sup.not_saved", { error: x.message }); }
  });

  // Staffing forecast (GET /supervisor/forecast): the next 24 hours beside
  // the nurses on duty, and the week per day. Refreshed every 15 minutes.
  async function loadForecast() {
    const note = $("forecast-note");
    try {
      const f = (await PE.api("GET", "/supervisor/forecast", undefined, true)).data;
      const hours = $("forecast-hours").querySelector("tbody");
      const days = $("forecast-days").querySelector("tbody");
      hours.replaceChildren();
      days.replaceChildren();
      if (!f.learnt) { I18N.set(note, "sup.forecast_none"); return; }
      I18N.set(note, "sup.forecast_help");
      const one = (x) => (Math.round(x * 10) / 10).toString();
      for (const h of f.hours.slice(0, 24)) {
        const tr = PE.el("tr");
        const at = I18N.time(h.start);
        tr.append(PE.el("td", null, at), PE.el("td", null, one(h.expected_cases)),
          PE.el("td", null, h.nurses_needed), PE.el("td", null, f.nurses_on_duty),
          PE.el("td", null, one(h.callback_capacity)), PE.el("td", null, one(h.capacity_on_duty)));
        tr.classList.toggle("alert", h.nurses_needed > f.nurses_on_duty);
        hours.append(tr);
      }
      for (const d of f.days) {
        const tr = PE.el("tr");
        tr.append(PE.el("td", null, d.date), PE.el("td", null, Math.round(d.expected_cases)),
          PE.el("td", null, d.nurse_hours), PE.el("td", null, d.peak_nurses),
          PE.el("td", null, Math.round(d.callback_capacity)));
        days.append(tr);
      }
    } catch (x) { I18N.set(note, "sup.forecast_failed", { error: x.message }); }
  }

  PE.whoami().then((me) => {
    if (me.role !== "supervisor") { location.href = "/nurse"; return; }
    loadSettings().catch((x) => { $("settings-status").textContent = x.message; });

    loadStats();
    loadLockouts();
    loadForecast();
    setInterval(loadForecast, 15 * 60 * 1000);
    PE.live(() => loadStats());
    setInterval(loadStats, 10000);
    setInterval(loadLockouts, 30000);
  }).catch(() => {});
})();

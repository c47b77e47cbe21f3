// Shared helpers for the staff pages: JSON calls, sign-in redirects, live events.
// Needs i18n.js loaded first (words, durations).
"use strict";
const PE = {
  // Set while signing out: a request answered 401 meanwhile must not start a
  // second navigation (to /login?next=...) that aborts the sign-out's own.
  leaving: false,
  // `background`: a refresh the page makes by itself (a timer, a live event);
  // it does not count as activity, so an unattended page still times out.
  async api(method, path, body, background) {
    const opts = { method, headers: {}, credentials: "same-origin" };
    if (background) opts.headers["x-pe-background"] = "1";
    if (body !== undefined) {
      opts.headers["content-type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const res = await fetch("/api/v1" + path, opts);
    if (res.status === 401 && !PE.leaving && !location.pathname.startsWith("/login")) {
      location.href = "/login?next=" + encodeURIComponent(location.pathname);
      throw new Error("not signed in");
    }
    let data = null;
    const text = await res.text();
    if (text) { try { data = JSON.parse(text); } catch (_) { data = { error: text }; } }
    if (!res.ok) {
      const err = new Error((data && data.error) || ("HTTP " + res.status));
      err.status = res.status;
      throw err;
    }
    return { status: res.status, data };
  },
  el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  },
  // "1 tim 05 min", "4 min", "35 s" (English "1 h 05 min").
  duration(ms) {
    const s = Math.floor(Math.abs(ms) / 1000);
    if (s < 60) return I18N.t("duration.s", { s });
    const m = Math.floor(s / 60);
    if (m < 60) return I18N.t("duration.m", { m });
    return I18N.t("duration.h", { h: Math.floor(m / 60), m: String(m % 60).padStart(2, "0") });
  },
  // The level's number, its name for screen readers and on hover.
  levelBadge(level) {
    const b = PE.el("span", "level level-" + level, level);
    b.title = PE.levelName(level);
    b.append(PE.el("span", "sr-only", " " + b.title));
    return b;
  },
  levelName(level) {
    return I18N.t("level.name", { level, name: I18N.word("level", level) });
  },
  channelName(ch) {
    return I18N.word("channel", ch);
  },
  async whoami() {
    const me = (await PE.api("GET", "/me")).data;
    const who = document.getElementById("who");
    if (who) {
      const show = () => { who.textContent = I18N.t("app.who", { user: me.username, role: I18N.word("role", me.role) }); };
      show();
      document.addEventListener("pe:lang", show);
    }
    const out = document.getElementById("logout");
    if (out) out.addEventListener("click", async () => {
      PE.leaving = true;
      try { await PE.api("POST", "/logout"); } finally { location.href = "/login"; }
    });
    return me;
  },
  // Calls onChange at connect and on every queue change; reconnects on its own.
  live(onChange) {
    const dot = document.getElementById("live");
    const src = new EventSource("/api/v1/events");
    src.addEventListener("queue", (e) => {
      if (dot) dot.classList.remove("off");
      let v = null;
      try { v = JSON.parse(e.data).version; } catch (_) { /* ignore */ }
      onChange(v);
    });
    src.onerror = () => { if (dot) dot.classList.add("off"); };
    return src;
  },
};

// Nurse worklist: the queue live, take next, release, record an outcome.
"use strict";
(() => {
  let cases = [];
  let claimed = null;
  const $ = (id) => document.getElementById(id);
  const say = (text) => { $("message").textContent = text || ""; };

  function answersList(answers) {
    const ul = PE.el("ul", "answers");
    for (const a of answers || []) {
      const li = PE.el("li");
      li.append(PE.el("span", "muted", (a.question_text || a.question_id) + " "));
      li.append(PE.el("strong", null, a.value_text || a.value));
      ul.append(li);
    }
    return ul;
  }

  function renderQueue() {
    const body = $("queue").querySelector("tbody");
    body.replaceChildren();
    const now = Date.now();
    for (const c of cases) {
      const tr = PE.el("tr", "level-row-" + c.priority);
      tr.dataset.id = c.id;
      tr.dataset.level = c.priority;
      tr.dataset.channel = c.channel;
      const lv = PE.el("td"); lv.append(PE.levelBadge(c.priority));
      if (c.red_flag) lv.append(PE.el("span", "overdue", " !"));
      tr.append(lv);
      const ch = PE.el("td"); ch.append(PE.el("span", "chip", PE.channelName(c.channel))); tr.append(ch);
      tr.append(PE.el("td", "waited", PE.duration(now - Date.parse(c.registered_at))));
      const left = Date.parse(c.deadline) - now;
      tr.append(PE.el("td", left < 0 ? "deadline overdue" : "deadline",
        left < 0 ? "overdue " + PE.duration(left) : PE.duration(left)));
      const an = PE.el("td"); an.append(answersList(c.answers));
      if (c.summary) an.append(PE.el("div", "summary", c.summary));
      tr.append(an);
      tr.append(PE.el("td", null, c.status === "holding" ? "on hold (live)" : c.mode === "callback" ? "callback" : c.status));
      body.append(tr);
    }
    $("queue-count").textContent = "(" + cases.length + ")";
    $("empty").hidden = cases.length > 0;
  }

  function renderClaimed() {
    renderVoiceNote();
    $("claimed").hidden = !claimed;
    if (!claimed) return;
    const lv = $("claimed-level");
    lv.className = "level level-" + claimed.priority;
    lv.textContent = claimed.priority;
    $("claimed-channel").textContent = PE.channelName(claimed.channel);
    const num = claimed.callback_number || "";
    const a = $("claimed-number");
    a.textContent = num || "no number given";
    a.href = num ? "tel:" + num : "#";
    $("claimed-pnr").textContent = claimed.personnummer || "not given";
    $("claimed-summary").textContent = claimed.summary || "";
    $("claimed-answers").replaceWith(Object.assign(answersList(claimed.answers), { id: "claimed-answers" }));
  }

  // The caller's spoken description, streamed from the API (each play is audited).
  function renderVoiceNote() {
    const box = $("voice-note");
    const player = $("voice-note-player");
    const has = !!(claimed && claimed.has_voice_note);
    box.hidden = !has;
    const src = has ? "/api/v1/cases/" + claimed.id + "/voice-note" : "";
    if (player.getAttribute("src") !== src) {
      player.pause();
      if (src) player.setAttribute("src", src); else player.removeAttribute("src");
      player.load();
    }
  }

  async function load() {
    try {
      cases = (await PE.api("GET", "/worklist")).data || [];
      renderQueue();
    } catch (x) { say("Could not load the queue: " + x.message); }
  }

  $("take-next").addEventListener("click", async () => {
    say("");
    try {
      const r = await PE.api("POST", "/claim-next");
      if (r.status === 204 || !r.data) { say("No one is waiting."); return; }
      claimed = r.data;
      sessionStorage.setItem("pe_claimed", claimed.id);
      renderClaimed();
      say("You took a level " + claimed.priority + " case.");
    } catch (x) { say("Could not take a case: " + x.message); }
    load();
  });

  $("release").addEventListener("click", async () => {
    if (!claimed) return;
    try {
      await PE.api("POST", "/cases/" + claimed.id + "/release");
      say("Case released to the queue.");
      claimed = null; sessionStorage.removeItem("pe_claimed"); renderClaimed();
    } catch (x) { say("Could not release: " + x.message); }
    load();
  });

  $("outcome-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!claimed) return;
    try {
      await PE.api("POST", "/cases/" + claimed.id + "/outcome", {
        outcome: $("outcome").value, note: $("outcome-note").value,
      });
      say("Outcome recorded.");
      claimed = null; sessionStorage.removeItem("pe_claimed");
      $("outcome-note").value = "";
      renderClaimed();
    } catch (x) { say("Could not record the outcome: " + x.message); }
    load();
  });

  async function restoreClaimed() {
    const id = sessionStorage.getItem("pe_claimed");
    if (!id) return;
    try {
      const c = (await PE.api("GET", "/cases/" + id)).data;
      if (c && c.status === "claimed") { claimed = c; renderClaimed(); }
      else sessionStorage.removeItem("pe_claimed");
    } catch (_) { sessionStorage.removeItem("pe_claimed"); }
  }

  PE.whoami().then((me) => {
    if (me.role === "supervisor") $("to-supervisor").hidden = false;
    restoreClaimed();
    PE.live(() => load());
    load();
    setInterval(renderQueue, 1000);
  }).catch(() => {});
})();

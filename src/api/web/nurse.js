// Nurse worklist: the queue live, take next, release, record an outcome.
"use strict";
(() => {
  let cases = [];
  let review = [];
  let claimed = null;
  const $ = (id) => document.getElementById(id);
  // Status line: a message id and its parameters (it follows a language switch).
  const say = (id, params) => I18N.set($("message"), id, params);
  let liveCount = null;

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
      tr.dataset.status = c.status === "holding" ? "holding" : c.mode === "callback" ? "callback" : c.status;
      const lv = PE.el("td"); lv.append(PE.levelBadge(c.priority));
      if (c.red_flag) lv.append(PE.el("span", "overdue", " !"));
      tr.append(lv);
      const ch = PE.el("td"); ch.append(PE.el("span", "chip", PE.channelName(c.channel))); tr.append(ch);
      tr.append(PE.el("td", "waited", PE.duration(now - Date.parse(c.registered_at))));
      const left = Date.parse(c.deadline) - now;
      tr.append(PE.el("td", left < 0 ? "deadline overdue" : "deadline",
        left < 0 ? I18N.t("nurse.overdue", { time: PE.duration(left) }) : PE.duration(left)));
      const an = PE.el("td"); an.append(answersList(c.answers));
      if (c.summary) an.append(PE.el("div", "summary", c.summary));
      tr.append(an);
      tr.append(PE.el("td", null, I18N.word("status", tr.dataset.status)));
      body.append(tr);
    }
    $("queue-count").textContent = I18N.t("nurse.count", { count: cases.length });
    $("empty").hidden = cases.length > 0;
    renderReview(now);
    // Screen readers hear the counts when they change, not the every-second redraw.
    const counts = cases.length + "/" + review.length;
    if (counts !== liveCount) {
      liveCount = counts;
      I18N.set($("queue-live"), "nurse.waiting_live", { count: cases.length, review: review.length });
    }
  }

  function renderReview(now) {
    const body = $("review").querySelector("tbody");
    body.replaceChildren();
    for (const c of review) {
      const tr = PE.el("tr", "review-row level-row-" + c.priority);
      tr.dataset.id = c.id;
      tr.dataset.reason = c.review_reason || "";
      const lv = PE.el("td"); lv.append(PE.levelBadge(c.priority)); tr.append(lv);
      tr.append(PE.el("td", null, I18N.word("review", c.review_reason)));
      tr.append(PE.el("td", "waited", PE.duration(now - Date.parse(c.registered_at))));
      tr.append(PE.el("td", null, c.attempts));
      const an = PE.el("td"); an.append(answersList(c.answers)); tr.append(an);
      const act = PE.el("td");
      const b = PE.el("button", "secondary review-claim", I18N.t("nurse.claim"));
      b.type = "button";
      b.setAttribute("aria-label", I18N.t("nurse.claim_label", { level: c.priority }));
      b.disabled = !!claimed;
      b.addEventListener("click", () => claimReview(c.id));
      act.append(b); tr.append(act);
      body.append(tr);
    }
    $("review-count").textContent = I18N.t("nurse.count", { count: review.length });
    $("review-empty").hidden = review.length > 0;
  }

  async function claimReview(id) {
    say(null);
    try {
      claimed = (await PE.api("POST", "/cases/" + id + "/claim")).data;
      sessionStorage.setItem("pe_claimed", claimed.id);
      renderClaimed();
      say("nurse.took_review", { level: claimed.priority });
    } catch (x) { say("nurse.could_not_take", { error: x.message }); }
    load();
  }

  function renderClaimed() {
    renderVoiceNote();
    renderListing();
    // The units section shows the case's unit, its handoffs and the hand-off choice.
    document.dispatchEvent(new CustomEvent("pe:claimed", { detail: claimed }));
    $("claimed").hidden = !claimed;
    if (!claimed) return;
    const lv = $("claimed-level");
    lv.className = "level level-" + claimed.priority;
    lv.textContent = claimed.priority;
    lv.title = PE.levelName(claimed.priority);
    $("claimed-channel").textContent = PE.channelName(claimed.channel);
    const num = claimed.callback_number || "";
    const a = $("claimed-number");
    a.textContent = num || I18N.t("nurse.no_number");
    a.href = num ? "tel:" + num : "#";
    $("claimed-pnr").textContent = claimed.personnummer || I18N.t("nurse.not_given");
    $("claimed-summary").textContent = claimed.summary || "";
    const why = $("claimed-review");
    why.hidden = claimed.status !== "claimed" || !claimed.review_reason;
    why.textContent = claimed.review_reason ? I18N.word("review", claimed.review_reason) : "";
    $("claimed-answers").replaceWith(Object.assign(answersList(claimed.answers), { id: "claimed-answers" }));
    renderSms();
  }

  // SMS sent to the resident for this case: kind, time, status (never the text).
  function renderSms() {
    const list = (claimed && claimed.sms) || [];
    $("claimed-sms").hidden = list.length === 0;
    const ul = $("claimed-sms-list");
    ul.replaceChildren();
    for (const m of list) {
      const li = PE.el("li");
      li.dataset.kind = m.kind;
      li.dataset.status = m.status;
      const when = m.delivered_at || m.sent_at || m.created_at;
      li.append(PE.el("span", null, I18N.word("sms", m.kind) + " "));
      li.append(PE.el("span", "muted sms-when", I18N.dateTime(when) + " "));
      li.append(PE.el("span", "chip", I18N.word("sms_status", m.status)));
      ul.append(li);
    }
  }

  // The resident's listed health centre (looked up in the background by personnummer).
  function renderListing() {
    const p = $("claimed-listing");
    const l = claimed && claimed.listing;
    p.hidden = !l;
    if (!l) return;
    const text = {
      found: () => I18N.t("listing.found", { name: l.name || l.hsa_id || I18N.t("listing.unknown_unit") }),
      none: () => I18N.t("listing.none"),
      pending: () => I18N.t("listing.pending"),
    };
    p.textContent = text[l.status] ? text[l.status]() : I18N.t("listing.unknown");
    p.title = l.hsa_id ? I18N.t("listing.hsa", { id: l.hsa_id }) : "";
    // Still being looked up (it takes a few seconds): read the case again, at most 3 times.
    if (l.status !== "pending" || listingRetry) return;
    const id = claimed.id;
    listingTries = listingTries.id === id ? listingTries : { id, n: 0 };
    if (listingTries.n++ < 3) {
      listingRetry = setTimeout(async () => {
        listingRetry = null;
        try {
          const c = (await PE.api("GET", "/cases/" + id, undefined, true)).data;
          if (claimed && claimed.id === id && c) { claimed.listing = c.listing; renderListing(); }
        } catch (_) { /* the next claim or reload shows it */ }
      }, 3000);
    }
  }
  let listingRetry = null;
  let listingTries = { id: null, n: 0 };

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
      const unit = PE.units ? PE.units.query() : "";
      cases = (await PE.api("GET", "/worklist" + unit, undefined, true)).data || [];
      review = (await PE.api("GET", "/review" + unit, undefined, true)).data || [];
      renderQueue();
    } catch (x) { say("nurse.could_not_load", { error: x.message }); }
  }

  // A claim lasts a few minutes (claim_lease_minutes) unless renewed: renew
  // every minute while this page shows the case. A claim that ended anyway
  // (went back to the queue) is said, not silently kept on screen.
  async function renewClaim() {
    if (!claimed) return;
    try {
      await PE.api("POST", "/cases/" + claimed.id + "/claim/renew");
    } catch (x) {
      if (x.status === 409 || x.status === 403 || x.status === 404) {
        claimed = null; sessionStorage.removeItem("pe_claimed"); renderClaimed();
        say("nurse.claim_ended");
        load();
      }
    }
  }

  $("take-next").addEventListener("click", async () => {
    say(null);
    try {
      const r = await PE.api("POST", "/claim-next");
      if (r.status === 204 || !r.data) { say("nurse.no_one_waiting"); return; }
      claimed = r.data;
      sessionStorage.setItem("pe_claimed", claimed.id);
      renderClaimed();
      say("nurse.took_case", { level: claimed.priority });
    } catch (x) { say("nurse.could_not_take", { error: x.message }); }
    load();
  });

  $("release").addEventListener("click", async () => {
    if (!claimed) return;
    try {
      await PE.api("POST", "/cases/" + claimed.id + "/release");
      say("nurse.released");
      claimed = null; sessionStorage.removeItem("pe_claimed"); renderClaimed();
    } catch (x) { say("nurse.could_not_release", { error: x.message }); }
    load();
  });

  $("outcome-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!claimed) return;
    try {
      await PE.api("POST", "/cases/" + claimed.id + "/outcome", {
        outcome: $("outcome").value, note: $("outcome-note").value,
      });
      say("nurse.recorded");
      claimed = null; sessionStorage.removeItem("pe_claimed");
      $("outcome-note").value = "";
      renderClaimed();
    } catch (x) { say("nurse.could_not_record", { error: x.message }); }
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

  // The units section: the filter changed (reload) or the case was handed off.
  document.addEventListener("pe:reload", () => load());
  document.addEventListener("pe:handed-off", (e) => {
    claimed = null; sessionStorage.removeItem("pe_claimed"); renderClaimed();
    say("nurse.handed_off", { unit: e.detail });
    load();
  });
  // A language switch: draw the lists and the case again in the new words.
  document.addEventListener("pe:lang", () => { renderQueue(); if (claimed) renderClaimed(); });

  PE.whoami().then((me) => {
    if (me.role === "supervisor") $("to-supervisor").hidden = false;
    restoreClaimed();
    PE.live(() => load());
    load();
    setInterval(renderQueue, 1000);
    setInterval(renewClaim, 60000);
  }).catch(() => {});
})();

// ---- Call: ring the resident back from this browser (WebRTC) or the nurse's phone ----
// Self-contained: reads the claimed case id from sessionStorage ("pe_claimed", kept by the
// worklist code above) and shows its card while the case card is shown or a call runs.
// API: POST /cases/{id}/call, GET /calls/{call_id} every second, POST /calls/{call_id}/hangup.
(() => {
  const $ = (id) => document.getElementById(id);
  if (!$("call")) return;
  let call = null; // { id, pc, stream, timer }

  // The call's state line: a message id (data-i18n) and the call's state (data-state, for tests).
  const show = (id, params, state) => {
    I18N.set($("call-state"), id, params);
    $("call-state").dataset.state = state || "";
  };

  function syncCallCard() {
    $("call").hidden = $("claimed").hidden && !call;
    $("call").classList.toggle("in-call", !!call);
    $("call-start").hidden = !!call;
    $("call-leg").disabled = !!call;
    $("call-hangup").hidden = !call;
    $("call-mute").hidden = !(call && call.stream);
  }

  // PCMU first (the service speaks G.711 only), then telephone-event/8000, then the rest.
  function preferPcmu(pc) {
    const caps = window.RTCRtpSender && RTCRtpSender.getCapabilities && RTCRtpSender.getCapabilities("audio");
    if (!caps) return;
    const rank = (c) => {
      const m = c.mimeType.toLowerCase();
      if (m === "audio/pcmu") return 0;
      if (m === "audio/telephone-event" && c.clockRate === 8000) return 1;
      return 2;
    };
    const codecs = caps.codecs.slice().sort((a, b) => rank(a) - rank(b));
    for (const t of pc.getTransceivers()) {
      if (t.setCodecPreferences && t.sender.track && t.sender.track.kind === "audio") t.setCodecPreferences(codecs);
    }
  }

  // The service does not take trickled candidates: the offer goes once gathering is complete.
  function gatheringComplete(pc, ms) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { pc.removeEventListener("icegatheringstatechange", check); clearTimeout(timer); resolve(); };
      const check = () => { if (pc.iceGatheringState === "complete") done(); };
      const timer = setTimeout(done, ms);
      pc.addEventListener("icegatheringstatechange", check);
    });
  }

  async function browserOffer() {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const pc = new RTCPeerConnection();
    for (const track of stream.getAudioTracks()) pc.addTrack(track, stream);
    preferPcmu(pc);
    pc.ontrack = (e) => {
      const audio = $("call-audio");
      audio.srcObject = e.streams[0] || new MediaStream([e.track]);
      audio.play().catch(() => show("call.autoplay", null, "connected"));
    };
    pc.onconnectionstatechange = () => {
      if (call && call.pc === pc && pc.connectionState === "failed") show("call.lost", null, "lost");
    };
    await pc.setLocalDescription(await pc.createOffer());
    await gatheringComplete(pc, 5000);
    return { pc, stream, sdp: pc.localDescription.sdp };
  }

  function stopMedia(media) {
    if (!media) return;
    if (media.pc) media.pc.close();
    if (media.stream) for (const t of media.stream.getTracks()) t.stop();
    $("call-audio").srcObject = null;
  }

  function finish(id, params) {
    if (call) {
      clearInterval(call.timer);
      stopMedia(call);
      call = null;
    }
    I18N.set($("call-mute"), "call.mute");
    $("call-mute").setAttribute("aria-pressed", "false");
    syncCallCard();
    show(id, params, "ended");
  }

  // [message id, params] for a failed start.
  function explain(x) {
    if (x && x.name === "NotAllowedError") return ["call.no_mic_permission"];
    if (x && x.name === "NotFoundError") return ["call.no_mic"];
    if (x && x.status === 409) return ["call.cannot", { error: x.message }];
    if (x && x.status === 503) return ["call.no_line"];
    return ["call.could_not", { error: (x && x.message) || String(x) }];
  }

  async function pollCall() {
    if (!call) return;
    const id = call.id;
    try {
      const s = (await PE.api("GET", "/calls/" + id)).data;
      if (!call || call.id !== id) return;
      if (s.state === "ended") {
        finish("call.ended_because", { why: I18N.word("call.result", s.result || "connected") });
        return;
      }
      const known = I18N.word("call.state", s.state) !== s.state;
      show(known ? "call.state." + s.state : null, null, s.state);
      if (!known) $("call-state").textContent = s.state;
    } catch (x) {
      if (x.status === 404 && call && call.id === id) finish("call.ended");
    }
  }

  async function startCall() {
    const caseId = sessionStorage.getItem("pe_claimed");
    if (!caseId || call) return;
    const leg = $("call-leg").value;
    $("call-start").disabled = true;
    show(leg === "browser" ? "call.starting_mic" : "call.starting", null, "starting");
    let media = null;
    try {
      const body = { nurse_leg: leg };
      if (leg === "browser") {
        media = await browserOffer();
        body.sdp = media.sdp;
      }
      const r = await PE.api("POST", "/cases/" + caseId + "/call", body);
      call = { id: r.data.call_id, pc: media && media.pc, stream: media && media.stream, timer: null };
      media = null;
      syncCallCard();
      if (call.pc) {
        if (!r.data.sdp) throw new Error(I18N.t("call.no_answer_sdp"));
        await call.pc.setRemoteDescription({ type: "answer", sdp: r.data.sdp });
      }
      show("call.calling", null, "calling");
      call.timer = setInterval(pollCall, 1000);
      pollCall();
    } catch (x) {
      stopMedia(media);
      if (call) {
        PE.api("POST", "/calls/" + call.id + "/hangup").catch(() => {});
        finish(...explain(x));
      } else {
        const [id, params] = explain(x);
        show(id, params, "failed");
      }
    } finally {
      $("call-start").disabled = false;
    }
  }

  async function hangUp() {
    if (!call) return;
    const id = call.id;
    try { await PE.api("POST", "/calls/" + id + "/hangup"); } catch (_) { /* ended anyway */ }
    finish("call.hung_up");
  }

  function toggleMute() {
    if (!call || !call.stream) return;
    const tracks = call.stream.getAudioTracks();
    const muted = tracks.length > 0 && tracks[0].enabled;
    for (const t of tracks) t.enabled = !muted;
    I18N.set($("call-mute"), muted ? "call.unmute" : "call.mute");
    $("call-mute").setAttribute("aria-pressed", String(muted));
  }

  $("call-start").addEventListener("click", startCall);
  $("call-hangup").addEventListener("click", hangUp);
  $("call-mute").addEventListener("click", toggleMute);
  // Closing the tab hangs up (the browser leg would otherwise linger until ICE times out).
  window.addEventListener("pagehide", () => {
    if (call) navigator.sendBeacon("/api/v1/calls/" + call.id + "/hangup");
  });
  new MutationObserver(syncCallCard).observe($("claimed"), { attributes: true, attributeFilter: ["hidden"] });
  syncCallCard();
})();

// ---- Units: the unit filter, the case's handoff history and "Hand off" ----
// Self-contained: the worklist code above asks PE.units.query() for the list's
// "?unit=", tells this section about the shown case ("pe:claimed"), and listens
// for "pe:reload" (filter changed) and "pe:handed-off" (the case left this nurse).
// API: GET /me, GET /units, POST /cases/{id}/handoff.
(() => {
  const $ = (id) => document.getElementById(id);
  if (!$("unit-filter")) return;
  let units = [];
  let me = null;
  let shown = null;

  const unitName = (id) => (units.find((u) => u.id === id) || { name: id }).name;

  function fillFilter() {
    const select = $("unit-filter");
    select.replaceChildren();
    // Nurses work their own unit's list; supervisors may look at any.
    const choices = me.role === "supervisor" ? units : units.filter((u) => u.id === me.unit);
    for (const u of choices) {
      const o = PE.el("option", null, u.name);
      o.value = u.id;
      select.append(o);
    }
    select.value = me.unit;
    select.disabled = choices.length < 2;
  }

  function fillHandoffChoice() {
    const select = $("handoff-unit");
    select.replaceChildren();
    if (!shown) return;
    const steps = shown.handoffs || [];
    const cameFrom = steps.length ? steps[steps.length - 1].from_unit : null;
    for (const u of units) {
      if (u.id === shown.unit) continue;
      const takes = (u.levels || []).includes(shown.priority);
      let label = u.open_now ? u.name : I18N.t("nurse.closed_now", { unit: u.name });
      if (u.id === cameFrom) label = I18N.t("nurse.back_to", { unit: label });
      if (!takes) label = I18N.t("nurse.not_level", { unit: label, level: shown.priority });
      const o = PE.el("option", null, label);
      o.value = u.id;
      if (u.id === cameFrom) o.dataset.back = "1";
      o.disabled = !takes;
      select.append(o);
    }
    const back = [...select.options].find((o) => o.value === cameFrom && !o.disabled);
    const first = [...select.options].find((o) => !o.disabled);
    if (back || first) select.value = (back || first).value;
    $("handoff-button").disabled = !first;
    // The resident's listed health centre, when it is one of ours: one click.
    const listed = shown.listing && shown.listing.unit;
    const target = units.find((u) => u.id === listed);
    const oneClick = $("handoff-listed");
    oneClick.hidden = !target || listed === shown.unit || !(target.levels || []).includes(shown.priority);
    if (target) oneClick.textContent = I18N.t("nurse.to_listed", { unit: target.name });
  }

  async function handOffToListed() {
    if (!shown || !shown.listing || !shown.listing.unit) return;
    $("handoff-unit").value = shown.listing.unit;
    if (!$("handoff-note").value) $("handoff-note").value = I18N.t("nurse.listed_here");
    $("handoff-form").requestSubmit();
  }

  function renderHistory() {
    const list = $("handoffs");
    list.replaceChildren();
    const steps = (shown && shown.handoffs) || [];
    for (const h of steps) {
      const li = PE.el("li", "handoff-step");
      const when = I18N.dateTime(h.at);
      li.append(PE.el("span", "muted", when + " · " + h.by + ": "));
      li.append(PE.el("strong", null, h.from_name + " → " + h.to_name));
      if (h.note) li.append(PE.el("span", "note", " “" + h.note + "”"));
      list.append(li);
    }
    $("handoffs-box").hidden = steps.length === 0;
    $("claimed-unit").textContent = shown ? unitName(shown.unit) : "";
  }

  function showCase(c) {
    shown = c && c.status === "claimed" ? c : null;
    renderHistory();
    fillHandoffChoice();
  }

  async function handOff(e) {
    e.preventDefault();
    if (!shown) return;
    const unit = $("handoff-unit").value;
    try {
      await PE.api("POST", "/cases/" + shown.id + "/handoff", { unit, note: $("handoff-note").value });
      $("handoff-note").value = "";
      document.dispatchEvent(new CustomEvent("pe:handed-off", { detail: unitName(unit) }));
    } catch (x) {
      I18N.set($("message"), "nurse.could_not_hand_off", { error: x.message });
    }
  }

  PE.units = {
    // "?unit=..." for the lists: the filter's unit (default the user's own).
    query() {
      const v = $("unit-filter").value;
      return v ? "?unit=" + encodeURIComponent(v) : "";
    },
    name: unitName,
  };

  document.addEventListener("pe:claimed", (e) => showCase(e.detail));
  document.addEventListener("pe:lang", () => { renderHistory(); fillHandoffChoice(); });
  $("unit-filter").addEventListener("change", () => document.dispatchEvent(new CustomEvent("pe:reload")));
  $("handoff-form").addEventListener("submit", handOff);
  $("handoff-listed").addEventListener("click", handOffToListed);

  Promise.all([PE.api("GET", "/me"), PE.api("GET", "/units")]).then(([m, u]) => {
    me = m.data;
    units = u.data || [];
    fillFilter();
    renderHistory();
    fillHandoffChoice();
    document.dispatchEvent(new CustomEvent("pe:reload"));
  }).catch(() => {});
})();

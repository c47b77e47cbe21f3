// Nurse worklist: the queue live, take next, release, record an outcome.
"use strict";
(() => {
  let cases = [];
  let review = [];
  let claimed = null;
  const reviewWhy = {
    not_reached: "Not reached: every callback attempt failed",
    no_number: "No number: the caller hung up while holding, caller ID withheld",
    repeated_red_flags: "Repeated red flags: this number's urgent calls keep ending before a nurse answers",
  };
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
    renderReview(now);
  }

  function renderReview(now) {
    const body = $("review").querySelector("tbody");
    body.replaceChildren();
    for (const c of review) {
      const tr = PE.el("tr", "review-row level-row-" + c.priority);
      tr.dataset.id = c.id;
      tr.dataset.reason = c.review_reason || "";
      const lv = PE.el("td"); lv.append(PE.levelBadge(c.priority)); tr.append(lv);
      tr.append(PE.el("td", null, reviewWhy[c.review_reason] || c.review_reason || "-"));
      tr.append(PE.el("td", "waited", PE.duration(now - Date.parse(c.registered_at))));
      tr.append(PE.el("td", null, c.attempts));
      const an = PE.el("td"); an.append(answersList(c.answers)); tr.append(an);
      const act = PE.el("td");
      const b = PE.el("button", "secondary review-claim", "Claim");
      b.type = "button";
      b.disabled = !!claimed;
      b.addEventListener("click", () => claimReview(c.id));
      act.append(b); tr.append(act);
      body.append(tr);
    }
    $("review-count").textContent = "(" + review.length + ")";
    $("review-empty").hidden = review.length > 0;
  }

  async function claimReview(id) {
    say("");
    try {
      claimed = (await PE.api("POST", "/cases/" + id + "/claim")).data;
      sessionStorage.setItem("pe_claimed", claimed.id);
      renderClaimed();
      say("You took a level " + claimed.priority + " case to review.");
    } catch (x) { say("Could not take the case: " + x.message); }
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
    $("claimed-channel").textContent = PE.channelName(claimed.channel);
    const num = claimed.callback_number || "";
    const a = $("claimed-number");
    a.textContent = num || "no number given";
    a.href = num ? "tel:" + num : "#";
    $("claimed-pnr").textContent = claimed.personnummer || "not given";
    $("claimed-summary").textContent = claimed.summary || "";
    const why = $("claimed-review");
    why.hidden = claimed.status !== "claimed" || !claimed.review_reason;
    why.textContent = reviewWhy[claimed.review_reason] || "";
    $("claimed-answers").replaceWith(Object.assign(answersList(claimed.answers), { id: "claimed-answers" }));
    renderSms();
  }

  // SMS sent to the resident for this case: kind, time, status (never the text).
  const smsKind = {
    callback_confirmation: "Callback time confirmed",
    callback_missed: "We tried to call you",
    self_care_advice: "Self-care advice link",
  };
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
      li.append(PE.el("span", null, (smsKind[m.kind] || m.kind) + " "));
      li.append(PE.el("span", "muted", new Date(when).toLocaleString() + " "));
      li.append(PE.el("span", "chip", m.status));
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
      found: "Listad vid: " + (l.name || l.hsa_id || "okänd enhet"),
      none: "Inte listad vid någon vårdcentral",
      pending: "Listning hämtas …",
    };
    p.textContent = text[l.status] || "Listning okänd";
    p.title = l.hsa_id ? "HSA-id " + l.hsa_id : "";
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
    } catch (x) { say("Could not load the queue: " + x.message); }
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
        say("Your claim on the case ended (not renewed in time): it is back in the queue.");
        load();
      }
    }
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

  // The units section: the filter changed (reload) or the case was handed off.
  document.addEventListener("pe:reload", () => load());
  document.addEventListener("pe:handed-off", (e) => {
    claimed = null; sessionStorage.removeItem("pe_claimed"); renderClaimed();
    say(e.detail || "Case handed off.");
    load();
  });

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

  const STATE_TEXT = {
    nurse_ringing: "Ringing your phone…",
    resident_ringing: "Ringing the resident…",
    announcing: "The resident is told who is calling…",
    connected: "Connected",
  };
  const RESULT_TEXT = {
    connected: "the call is over",
    busy: "the resident's line was busy",
    no_answer: "the resident did not answer",
    rejected: "the resident declined the call",
    failed: "the call could not be made",
    nurse_unavailable: "your phone did not answer",
    cancelled: "the call was cancelled",
  };

  const show = (text) => { $("call-state").textContent = text || ""; };

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
      audio.play().catch(() => show("Click the page to hear the call (the browser blocked autoplay)."));
    };
    pc.onconnectionstatechange = () => {
      if (call && call.pc === pc && pc.connectionState === "failed") show("The audio connection to the service was lost.");
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

  function finish(text) {
    if (call) {
      clearInterval(call.timer);
      stopMedia(call);
      call = null;
    }
    $("call-mute").textContent = "Mute";
    $("call-mute").setAttribute("aria-pressed", "false");
    syncCallCard();
    show(text);
  }

  function explain(x) {
    if (x && x.name === "NotAllowedError") return "The browser may not use the microphone: allow it for this page, or ring via your phone.";
    if (x && x.name === "NotFoundError") return "No microphone found: plug in a headset, or ring via your phone.";
    if (x && x.status === 409) return "Cannot call: " + x.message;
    if (x && x.status === 503) return "No line is free right now; try again in a moment.";
    return "Could not call: " + ((x && x.message) || x);
  }

  async function pollCall() {
    if (!call) return;
    const id = call.id;
    try {
      const s = (await PE.api("GET", "/calls/" + id)).data;
      if (!call || call.id !== id) return;
      if (s.state === "ended") {
        finish("Call ended: " + (RESULT_TEXT[s.result] || s.result || "the call is over") + ".");
        return;
      }
      show(STATE_TEXT[s.state] || s.state);
    } catch (x) {
      if (x.status === 404 && call && call.id === id) finish("Call ended.");
    }
  }

  async function startCall() {
    const caseId = sessionStorage.getItem("pe_claimed");
    if (!caseId || call) return;
    const leg = $("call-leg").value;
    $("call-start").disabled = true;
    show(leg === "browser" ? "Starting the microphone…" : "Starting the call…");
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
        if (!r.data.sdp) throw new Error("the service sent no answer for the browser");
        await call.pc.setRemoteDescription({ type: "answer", sdp: r.data.sdp });
      }
      show("Calling…");
      call.timer = setInterval(pollCall, 1000);
      pollCall();
    } catch (x) {
      stopMedia(media);
      if (call) {
        PE.api("POST", "/calls/" + call.id + "/hangup").catch(() => {});
        finish(explain(x));
      } else {
        show(explain(x));
      }
    } finally {
      $("call-start").disabled = false;
    }
  }

  async function hangUp() {
    if (!call) return;
    const id = call.id;
    try { await PE.api("POST", "/calls/" + id + "/hangup"); } catch (_) { /* ended anyway */ }
    finish("You hung up.");
  }

  function toggleMute() {
    if (!call || !call.stream) return;
    const tracks = call.stream.getAudioTracks();
    const muted = tracks.length > 0 && tracks[0].enabled;
    for (const t of tracks) t.enabled = !muted;
    $("call-mute").textContent = muted ? "Unmute" : "Mute";
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
      let label = u.name + (u.open_now ? "" : " (closed now)");
      if (u.id === cameFrom) label = "Back to " + label;
      if (!takes) label += " – does not take level " + shown.priority;
      const o = PE.el("option", null, label);
      o.value = u.id;
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
    if (target) oneClick.textContent = "Hand off to the listed unit: " + target.name;
  }

  async function handOffToListed() {
    if (!shown || !shown.listing || !shown.listing.unit) return;
    $("handoff-unit").value = shown.listing.unit;
    if (!$("handoff-note").value) $("handoff-note").value = "Listad här.";
    $("handoff-form").requestSubmit();
  }

  function renderHistory() {
    const list = $("handoffs");
    list.replaceChildren();
    const steps = (shown && shown.handoffs) || [];
    for (const h of steps) {
      const li = PE.el("li", "handoff-step");
      const when = new Date(h.at).toLocaleString("sv-SE", { dateStyle: "short", timeStyle: "short" });
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
      document.dispatchEvent(new CustomEvent("pe:handed-off", { detail: "Case handed to " + unitName(unit) + "." }));
    } catch (x) {
      $("message").textContent = "Could not hand off: " + x.message;
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

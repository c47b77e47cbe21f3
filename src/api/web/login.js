"use strict";
document.getElementById("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const err = document.getElementById("login-error");
  I18N.set(err, null);
  try {
    const me = (await PE.api("POST", "/login", {
      username: document.getElementById("username").value,
      password: document.getElementById("password").value,
    })).data;
    const next = new URLSearchParams(location.search).get("next");
    const safe = next && /^\/(nurse|supervisor)$/.test(next) ? next : null;
    location.href = safe || (me.role === "supervisor" ? "/supervisor" : "/nurse");
  } catch (x) {
    if (x.status === 401) I18N.set(err, "login.wrong");
    else I18N.set(err, "login.failed", { error: x.message });
  }
});

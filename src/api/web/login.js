"use strict";
document.getElementById("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const err = document.getElementById("login-error");
  err.textContent = "";
  try {
    const me = (await PE.api("POST", "/login", {
      username: document.getElementById("username").value,
      password: document.getElementById("password").value,
    })).data;
    const next = new URLSearchParams(location.search).get("next");
    const safe = next && /^\/(nurse|supervisor)$/.test(next) ? next : null;
    location.href = safe || (me.role === "supervisor" ? "/supervisor" : "/nurse");
  } catch (x) {
    err.textContent = x.status === 401 ? "Wrong user name or password." : "Sign-in failed: " + x.message;
  }
});

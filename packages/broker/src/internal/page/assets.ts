/**
 * The connect page's stylesheet and script, served from the broker itself
 * (no external asset; the Content-Security-Policy allows only these). The
 * page works without the script; the script adds the copy buttons, the live
 * countdown and the status polling that turns the page when the sign-in ends.
 */

export const css = `
:root { color-scheme: light dark; --bg: #ffffff; --fg: #1b1b1f; --muted: #5c5c66; --accent: #0b57d0; --accent-fg: #ffffff;
  --border: #c7c7d1; --panel: #f3f3f7; --danger: #b3261e; --ok: #146c2e; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #131316; --fg: #e6e6ea; --muted: #a8a8b3; --accent: #a8c7fa; --accent-fg: #0b1b3a; --border: #44444d;
    --panel: #1f1f24; --danger: #f2b8b5; --ok: #93d7a1; }
}
* { box-sizing: border-box; }
html { font-size: 100%; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 1rem/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 40rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
main:focus { outline: none; }
h1 { font-size: 1.5rem; line-height: 1.25; margin: 0.5rem 0 1rem; }
h2 { font-size: 1.125rem; margin: 1.5rem 0 0.5rem; }
p, li { max-width: 36rem; overflow-wrap: anywhere; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, summary:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.skip { position: absolute; left: -999px; top: 0; }
.skip:focus { left: 0.5rem; top: 0.5rem; background: var(--bg); padding: 0.5rem; z-index: 1; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.panel { background: var(--panel); border: 1px solid var(--border); border-radius: 0.5rem; padding: 1rem; margin: 1rem 0; }
.button, button { display: inline-block; min-height: 2.75rem; padding: 0.625rem 1.125rem; border-radius: 0.5rem; border: 1px solid var(--accent);
  background: var(--accent); color: var(--accent-fg); font: inherit; font-weight: 600; text-decoration: none; cursor: pointer; }
.button.secondary, button.secondary { background: transparent; color: var(--accent); }
.methods { list-style: none; padding: 0; margin: 0; display: grid; gap: 0.75rem; }
.methods li { border: 1px solid var(--border); border-radius: 0.5rem; padding: 1rem; }
.methods form { margin: 0 0 0.5rem; }
.hint, .note { color: var(--muted); }
.code { font: 700 2rem/1.2 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; letter-spacing: 0.08em; margin: 0.5rem 0; word-break: break-all; }
pre { white-space: pre-wrap; word-break: break-all; background: var(--panel); border: 1px solid var(--border); border-radius: 0.5rem;
  padding: 0.75rem; font: 0.875rem/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
label { display: block; font-weight: 600; margin: 0.75rem 0 0.25rem; }
input[type=url], input[type=text] { width: 100%; min-height: 2.75rem; padding: 0.5rem; border-radius: 0.375rem; border: 1px solid var(--border);
  background: var(--bg); color: var(--fg); font: inherit; }
.error { color: var(--danger); font-weight: 600; }
.ok { color: var(--ok); }
.actions { display: flex; flex-wrap: wrap; gap: 0.75rem; align-items: center; margin: 1rem 0; }
.actions form { margin: 0; }
footer { max-width: 40rem; margin: 0 auto; padding: 0 1rem 2rem; color: var(--muted); font-size: 0.875rem; }
.waiting::after { content: ""; display: inline-block; width: 0.75em; height: 0.75em; margin-left: 0.5em; border-radius: 50%;
  border: 2px solid var(--muted); border-top-color: transparent; animation: spin 1s linear infinite; vertical-align: -0.1em; }
@keyframes spin { to { transform: rotate(360deg); } }
@media (prefers-reduced-motion: reduce) { .waiting::after { animation: none; border-top-color: var(--muted); } }
`

export const js = `"use strict";
(function () {
  var live = document.getElementById("live");
  var timers = [];
  // A polite announcement: cleared first, so the same words are read again.
  var say = function (text) {
    if (!live) { return; }
    live.textContent = "";
    setTimeout(function () { live.textContent = text; }, 100);
  };
  var init = function () {
    timers.forEach(function (timer) { clearInterval(timer); });
    timers = [];
    Array.prototype.forEach.call(document.querySelectorAll("[data-copy]"), function (button) {
      button.addEventListener("click", function () {
        var copied = button.getAttribute("data-copied") || "";
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(button.getAttribute("data-copy") || "").then(function () {
            button.textContent = copied;
            say(copied);
          }, function () {});
        }
      });
    });
    var countdown = document.querySelector("[data-deadline]");
    if (countdown) {
      var end = Date.parse(countdown.getAttribute("data-deadline") || "");
      var tick = function () {
        var left = Math.max(0, Math.round((end - Date.now()) / 1000));
        countdown.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
      };
      tick();
      timers.push(setInterval(tick, 1000));
    }
    if (document.body.getAttribute("data-poll") === "true") { timers.push(setInterval(poll, 2000)); }
  };
  // The sign-in moved on: show the new state in place, move focus to its heading and announce it.
  var show = function (text) {
    var next = new DOMParser().parseFromString(text, "text/html");
    var main = document.getElementById("main");
    var fresh = next.getElementById("main");
    if (!main || !fresh) { window.location.reload(); return; }
    main.innerHTML = fresh.innerHTML;
    document.title = next.title;
    document.body.setAttribute("data-view", next.body.getAttribute("data-view") || "");
    document.body.setAttribute("data-poll", next.body.getAttribute("data-poll") || "false");
    init();
    var heading = main.querySelector("h1");
    if (heading) {
      heading.focus();
      say(heading.textContent || "");
    }
  };
  var busy = false;
  var poll = function () {
    if (busy) { return; }
    busy = true;
    var view = document.body.getAttribute("data-view");
    fetch("/connect/api/state", { credentials: "same-origin", headers: { accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) {
        if (!state || state.view === view) { return null; }
        return fetch("/connect", { credentials: "same-origin" }).then(function (response) { return response.text(); }).then(show);
      })
      .then(function () { busy = false; }, function () { busy = false; });
  };
  init();
})();
`

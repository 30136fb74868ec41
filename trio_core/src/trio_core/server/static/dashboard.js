// The dashboard's live part: one EventSource on /v1/watch/live. A condition's change is applied in place; a
// change in the watches or a new event fetches the server-rendered fragment again (one rendering of each).
"use strict";

const csrf = document.querySelector('meta[name="trio-csrf"]').content;
const live = document.getElementById("live");
const lastFrame = {}; // watch id -> when its picture was last refreshed (at most once a second)
let refreshing = {};

function refresh(name, url) {
  // Coalesced: many updates in a burst fetch the fragment once.
  if (refreshing[name]) return;
  refreshing[name] = setTimeout(async () => {
    refreshing[name] = null;
    const answer = await fetch(url, { credentials: "same-origin" });
    if (answer.status === 401) { location.href = "/login"; return; }
    if (answer.ok) document.getElementById(name).innerHTML = await answer.text();
  }, 200);
}

function refreshWatches() { refresh("watches", "/dashboard/watches"); }
function refreshEvents() { refresh("events", "/dashboard/events" + location.search); }

function setCondition(watch, condition, alerting, answer) {
  const item = document.getElementById(`cond-${watch}-${condition}`);
  if (!item) { refreshWatches(); return; }
  item.classList.toggle("alert", alerting);
  item.classList.toggle("clear", !alerting);
  if (answer !== undefined) document.getElementById(`answer-${watch}-${condition}`).textContent = answer;
}

function showFrame(watch) {
  const now = Date.now();
  if (now - (lastFrame[watch] || 0) < 1000) return;
  lastFrame[watch] = now;
  const image = document.getElementById(`frame-${watch}`);
  if (image) { image.classList.remove("none"); image.src = `/v1/watch/${encodeURIComponent(watch)}/frame.jpg?t=${now}`; }
}

function connect() {
  const source = new EventSource("/v1/watch/live");
  source.onopen = () => { live.textContent = "live"; live.className = "live on"; };
  source.onerror = () => { live.textContent = "reconnecting…"; live.className = "live off"; };
  source.addEventListener("watches", refreshWatches);
  source.addEventListener("watch", refreshWatches);
  source.addEventListener("removed", refreshWatches);
  source.addEventListener("started", refreshWatches);
  source.addEventListener("ended", () => { refreshWatches(); refreshEvents(); });
  source.addEventListener("result", (message) => {
    const event = JSON.parse(message.data);
    const probability = event.probability == null ? "" : ` ${event.probability.toFixed(2)}`;
    setCondition(event.watch, event.condition, event.alerting, `${event.answer}${probability}`);
    showFrame(event.watch);
  });
  source.addEventListener("alert", (message) => {
    const event = JSON.parse(message.data);
    setCondition(event.watch, event.condition, true);
    refreshEvents();
  });
  source.addEventListener("cleared", (message) => {
    const event = JSON.parse(message.data);
    setCondition(event.watch, event.condition, false);
    refreshEvents();
  });
}

async function call(method, url, body) {
  const headers = { "X-Trio-CSRF": csrf };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(url, { method, headers, credentials: "same-origin",
                                    body: body === undefined ? undefined : JSON.stringify(body) });
  if (answer.status === 401) location.href = "/login";
  return answer;
}

document.addEventListener("click", async (click) => {
  const button = click.target.closest("button.stop-watch, button.start-watch");
  if (!button) return;
  const watch = encodeURIComponent(button.dataset.watch);
  button.disabled = true;
  await (button.classList.contains("stop-watch") ? call("DELETE", `/v1/watch/${watch}`)
                                                 : call("POST", `/v1/watch/${watch}/start`));
  refreshWatches();
});

document.getElementById("start-form").addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const form = new FormData(submit.target);
  const problem = document.getElementById("start-problem");
  const body = { source: form.get("source"), conditions: [{ id: "condition", question: form.get("question") }],
                 fps: Number(form.get("fps") || 1), realtime: form.get("realtime") === "on", background: true };
  if (form.get("name")) body.name = form.get("name");
  const answer = await call("POST", "/v1/watch", body);
  if (answer.ok) { problem.hidden = true; submit.target.reset(); refreshWatches(); return; }
  const error = await answer.json().catch(() => ({}));
  problem.textContent = (error.error && error.error.message) || `The server answered ${answer.status}.`;
  problem.hidden = false;
});

// A watch with no frame yet shows none rather than a broken picture (no handler attributes: the page's CSP runs
// only this file). Error events do not bubble: caught on the way down, and for those that failed before this ran.
document.addEventListener("error", (failed) => {
  if (failed.target.matches && failed.target.matches("img.frame")) failed.target.classList.add("none");
}, true);
for (const image of document.querySelectorAll("img.frame")) {
  if (image.complete && image.naturalWidth === 0) image.classList.add("none");
}

connect();

// The viewer's one script, a progressive enhancement: every page works
// without it. It submits a date picker when its date changes, and keeps the
// timeline live: new lines arrive from /events (server-sent events) and are
// built with textContent, so a message is shown as text, never as markup.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const input of document.querySelectorAll("input.autosubmit")) {
    input.addEventListener("change", () => { if (input.value) input.form.submit(); });
  }
  const live = document.getElementById("live");
  if (live) follow(live);
});

function follow(live) {
  const timeline = document.getElementById("timeline");
  const url = "/events?day=" + encodeURIComponent(live.dataset.day) +
    "&after=" + encodeURIComponent(live.dataset.after);
  const source = new EventSource(url);
  source.addEventListener("open", () => live.classList.add("on"));
  source.addEventListener("error", () => live.classList.remove("on"));
  source.addEventListener("line", (ev) => {
    const l = JSON.parse(ev.data);
    if (document.getElementById("m-" + l.id)) return;
    const empty = document.getElementById("empty");
    if (empty) empty.remove();
    let session = timeline.firstElementChild;
    if (!session || session.dataset.session !== l.session) {
      session = document.createElement("section");
      session.className = "session";
      session.dataset.session = l.session;
      const h = document.createElement("h2");
      h.className = "session-id";
      h.textContent = l.session ? "session " + l.session : "no session";
      const ol = document.createElement("ol");
      ol.className = "lines";
      session.append(h, ol);
      timeline.prepend(session);
    }
    const li = document.createElement("li");
    li.id = "m-" + l.id;
    li.className = "line fresh " + l.speaker;
    const time = document.createElement("time");
    time.textContent = l.time;
    const speaker = document.createElement("span");
    speaker.className = "speaker";
    speaker.textContent = l.speaker;
    const text = document.createElement("span");
    text.className = "text";
    if (/[\u0E00-\u0E7F]/.test(l.text)) text.lang = "th";
    text.textContent = l.text;
    li.append(time, " ", speaker, " ", text);
    if (l.cut) {
      const whole = document.createElement("a");
      whole.className = "whole";
      whole.href = "/message?id=" + encodeURIComponent(l.id);
      whole.textContent = "… the whole message";
      li.append(" ", whole);
    }
    session.querySelector("ol").prepend(li);
  });
}

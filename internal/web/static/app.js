// The viewer's one script, a progressive enhancement: every page works
// without it. It submits a date picker when its date changes, and keeps the
// timeline live: new lines arrive from /events (server-sent events) and are
// built with textContent, so a message is shown as text, never as markup.
// A stream the viewer refuses (it serves a bounded number at once) is not
// tried again by the browser, so the script asks again after the page's
// data-retry seconds, doubling up to five minutes, from the newest line it
// has shown.
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
  const retry = Number(live.dataset.retry) || 30;
  let after = live.dataset.after;
  let wait = retry;
  const connect = () => {
    const source = new EventSource("/events?day=" + encodeURIComponent(live.dataset.day) +
      "&after=" + encodeURIComponent(after));
    source.addEventListener("open", () => { live.classList.add("on"); wait = retry; });
    source.addEventListener("error", () => {
      live.classList.remove("on");
      if (source.readyState === EventSource.CLOSED) {
        live.dataset.retries = (Number(live.dataset.retries) || 0) + 1;
        // A little jitter, so that tabs refused together do not ask together.
        setTimeout(connect, wait * (750 + Math.random() * 500));
        wait = Math.min(wait * 2, 300);
      }
    });
    source.addEventListener("line", (ev) => show(ev));
  };
  const show = (ev) => {
    if (ev.lastEventId) after = ev.lastEventId;
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
  };
  connect();
}

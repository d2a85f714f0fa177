// Balai Warga dashboard: live counts and the simulated phone. No inline script (CSP).
(function () {
  "use strict";

  const tokenMeta = document.querySelector('meta[name="csrf-token"]');
  const csrfToken = tokenMeta ? tokenMeta.content : "";
  const POLL_MS = 4000;

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(String(r.status)))));
  }

  function every(ms, fn) {
    setInterval(() => { if (document.visibilityState === "visible") fn(); }, ms);
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Broadcast list: update counts, status and progress in place.
  function liveList(table) {
    every(POLL_MS, () => getJSON(table.dataset.liveList).then((data) => {
      for (const b of data.broadcasts) {
        const row = table.querySelector('tr[data-broadcast="' + b.id + '"]');
        if (!row) continue;
        row.querySelectorAll("[data-count]").forEach((cell) => {
          cell.textContent = b.counts[cell.dataset.count];
        });
        const status = row.querySelector("[data-status]");
        status.textContent = b.status_label;
        status.className = "badge status-" + b.status;
        const bar = row.querySelector("progress");
        bar.max = b.progress.total || 1;
        bar.value = b.progress.done;
        row.querySelector("[data-percent]").textContent =
          b.progress.percent + "% " + b.progress.label;
      }
    }).catch(() => {}));
  }

  // Broadcast detail: reload when anything changed, so the recipient table follows too.
  function liveDetail(head) {
    every(POLL_MS, () => getJSON(head.dataset.liveDetail).then((b) => {
      if (b.sig !== head.dataset.sig) window.location.reload();
    }).catch(() => {}));
  }

  // Character counter for the compose form.
  function counter(area) {
    const out = document.getElementById(area.dataset.counter);
    const update = () => { out.textContent = area.value.length; };
    area.addEventListener("input", update);
    update();
  }

  // The simulated phone: render messages, mark them read, poll for new ones.
  function phone(root) {
    const chat = root.querySelector(".chat");
    const openUrl = root.dataset.openUrl;
    const actUrl = root.dataset.actUrl;

    function scrollDown() { chat.scrollTop = chat.scrollHeight; }

    function openChat() {
      if (!openUrl || document.visibilityState !== "visible") return;
      fetch(openUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrfToken },
      }).catch(() => {});
    }

    function buttonNode(b) {
      const label = b.label + (b.pressed ? " · ditekan" : "");
      const button = el("button", "chat-button" + (b.pressed ? " pressed" : ""), label);
      if (!openUrl) {
        button.type = "button";
        button.disabled = true;
        return button;
      }
      button.type = "submit";
      const form = el("form");
      form.method = "post";
      form.action = actUrl;
      for (const [name, value] of [["csrf_token", csrfToken], ["button", b.payload]]) {
        const input = el("input");
        input.type = "hidden";
        input.name = name;
        input.value = value;
        form.appendChild(input);
      }
      form.appendChild(button);
      return form;
    }

    function messageNode(m) {
      const node = el("div", "msg " + (m.own ? "msg-own" : "msg-hub"));
      const bubble = el("div", "bubble");
      for (const f of m.attachments || []) {
        const link = el("a", "msg-file", f.image ? undefined : "📄 " + f.filename);
        link.href = f.url;
        link.target = "_blank";
        link.rel = "noopener";
        if (f.image) {
          const img = el("img");
          img.src = f.url;
          img.alt = f.filename;
          link.appendChild(img);
        }
        bubble.appendChild(link);
      }
      const text = el("div", "msg-text");
      for (const part of m.parts) {
        text.appendChild(part.bold ? el("strong", "", part.text) : document.createTextNode(part.text));
      }
      bubble.appendChild(text);
      bubble.appendChild(el("span", "msg-time", m.time));
      node.appendChild(bubble);
      if (m.buttons.length) {
        const buttons = el("div", "msg-buttons");
        m.buttons.forEach((b) => buttons.appendChild(buttonNode(b)));
        node.appendChild(buttons);
      }
      return node;
    }

    function render(messages) {
      if (!messages.length) {
        chat.replaceChildren(el("p", "chat-empty", "Belum ada pesan."));
        return;
      }
      chat.replaceChildren(...messages.map(messageNode));
      scrollDown();
    }

    every(3000, () => getJSON(root.dataset.live).then((data) => {
      if (data.sig === root.dataset.sig) return;
      root.dataset.sig = data.sig;
      render(data.messages);
      openChat();
    }).catch(() => {}));

    document.addEventListener("visibilitychange", openChat);
    scrollDown();
    openChat();
  }

  const list = document.querySelector("[data-live-list]");
  if (list) liveList(list);
  const detail = document.querySelector("[data-live-detail]");
  if (detail) liveDetail(detail);
  document.querySelectorAll("textarea[data-counter]").forEach(counter);
  const phoneRoot = document.querySelector("[data-phone]");
  if (phoneRoot) phone(phoneRoot);
})();

/* censusbot demo web chat: talks to the emulator's /_emu/ control API. No dependencies. */
"use strict";

/* ---------- Telegram HTML: parse into a safe tree (pure; unit-tested with node) ---------- */
const ALLOWED_TAGS = new Set([
  "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
  "tg-spoiler", "span", "blockquote", "tg-emoji",
]);
const TAG_RE = /<(\/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s[^<>]*)?)>/g;
const SAFE_HREF = /^(https?:|tg:|mailto:)/i;

function decodeEntities(text) {
  const named = { lt: "<", gt: ">", amp: "&", quot: "\"", apos: "'", nbsp: "\u00a0" };
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, ent) => {
    if (ent[0] === "#") {
      const code = ent[1] === "x" || ent[1] === "X" ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return Object.prototype.hasOwnProperty.call(named, ent) ? named[ent] : whole;
  });
}

function attrValue(attrs, name) {
  const re = new RegExp("\\b" + name + "\\s*=\\s*(?:\"([^\"]*)\"|'([^']*)'|([^\\s\"'>]+))", "i");
  const m = re.exec(attrs || "");
  return m ? decodeEntities(m[1] ?? m[2] ?? m[3] ?? "") : null;
}

/** A message time as people read it: Beijing time (Asia/Shanghai), whatever the browser's zone. */
function clockTime(unixSeconds) {
  return new Date(unixSeconds * 1000).toLocaleTimeString("zh-CN", {
    timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });
}

/** Parse Telegram HTML into [string | {tag, href?, spoiler?, children}]; unknown tags stay literal text. */
function parseTelegramHtml(src) {
  const root = { tag: null, children: [] };
  const stack = [root];
  const top = () => stack[stack.length - 1];
  const text = (s) => { if (s) top().children.push(s); };
  let last = 0;
  let m;
  TAG_RE.lastIndex = 0;
  while ((m = TAG_RE.exec(src)) !== null) {
    text(decodeEntities(src.slice(last, m.index)));
    last = TAG_RE.lastIndex;
    const closing = m[1] === "/";
    const name = m[2].toLowerCase();
    if (!ALLOWED_TAGS.has(name)) { text(m[0]); continue; }
    if (closing) {
      const at = stack.map((n) => n.tag).lastIndexOf(name);
      if (at > 0) stack.length = at; else text(m[0]);
      continue;
    }
    const node = { tag: name, children: [] };
    if (name === "a") {
      const href = attrValue(m[3], "href");
      if (href && SAFE_HREF.test(href.trim())) node.href = href.trim();
    }
    if (name === "tg-spoiler" || (name === "span" && attrValue(m[3], "class") === "tg-spoiler")) {
      node.spoiler = true;
    }
    top().children.push(node);
    stack.push(node);
  }
  text(decodeEntities(src.slice(last)));
  return root.children;
}

if (typeof module !== "undefined" && module.exports) {
  module.exports = { parseTelegramHtml, decodeEntities, clockTime };
}

/* ---------- page ---------- */
if (typeof document !== "undefined") {
  (function main() {
    const $ = (sel) => document.querySelector(sel);
    const list = $("#messages");
    const personaSelect = $("#persona");
    const input = $("#input");
    const replyKbd = $("#reply-kbd");
    const fileInput = $("#file");
    const statusEl = $("#status");
    let personas = [];
    let persona = null;
    let rev = 0;
    let messages = new Map();
    let generation = 0;
    let pollAbort = null;

    const chatId = () => persona.chat_id ?? persona.user.id;
    const api = (path) => "_emu/chats/" + encodeURIComponent(chatId()) + path;
    const setStatus = (s) => { statusEl.textContent = s; };

    function buildNodes(nodes, parent) {
      for (const node of nodes) {
        if (typeof node === "string") { parent.appendChild(document.createTextNode(node)); continue; }
        let el;
        if (node.spoiler || node.tag === "tg-spoiler") {
          el = document.createElement("span");
          el.className = "spoiler";
          el.addEventListener("click", () => el.classList.toggle("shown"));
        } else if (node.tag === "a") {
          el = document.createElement("a");
          if (node.href) { el.href = node.href; el.target = "_blank"; el.rel = "noopener noreferrer"; }
        } else if (node.tag === "span" || node.tag === "tg-emoji") {
          el = document.createElement("span");
        } else {
          el = document.createElement(node.tag);
        }
        buildNodes(node.children, el);
        parent.appendChild(el);
      }
    }

    function renderText(container, text, parseMode) {
      const div = document.createElement("div");
      div.className = "text";
      if (parseMode && parseMode.toUpperCase() === "HTML") buildNodes(parseTelegramHtml(text), div);
      else div.textContent = text;
      container.appendChild(div);
    }

    function fileUrl(fileId) { return "_emu/file/" + encodeURIComponent(fileId); }

    function renderInlineKeyboard(msg, container) {
      const rows = (msg.reply_markup && msg.reply_markup.inline_keyboard) || [];
      if (!rows.length) return;
      const kbd = document.createElement("div");
      kbd.className = "kbd inline";
      for (const row of rows) {
        const r = document.createElement("div");
        r.className = "row";
        for (const b of row) {
          const btn = document.createElement("button");
          btn.type = "button";
          btn.textContent = b.text;
          if (b.callback_data !== undefined) {
            btn.dataset.callback = b.callback_data;
            btn.addEventListener("click", () => click(msg.message_id, b.callback_data));
          } else if (b.url) {
            btn.addEventListener("click", () => window.open(b.url, "_blank", "noopener"));
          }
          r.appendChild(btn);
        }
        kbd.appendChild(r);
      }
      container.appendChild(kbd);
    }

    function renderMessage(msg) {
      const el = document.createElement("div");
      el.className = "msg " + (msg.from_bot ? "bot" : "user");
      el.dataset.messageId = msg.message_id;
      if (msg.photo && msg.photo.length) {
        const img = document.createElement("img");
        img.className = "photo";
        img.alt = "photo";
        img.src = fileUrl(msg.photo[msg.photo.length - 1].file_id);
        el.appendChild(img);
      }
      if (msg.document) {
        const a = document.createElement("a");
        a.className = "document";
        a.href = fileUrl(msg.document.file_id);
        a.download = msg.document.file_name || "file";
        a.textContent = "📄 " + (msg.document.file_name || "file");
        el.appendChild(a);
      }
      if (msg.contact) renderText(el, "📱 " + msg.contact.phone_number, null);
      if (msg.location) renderText(el, "📍 " + msg.location.latitude + ", " + msg.location.longitude, null);
      if (msg.text !== undefined) renderText(el, msg.text, msg.parse_mode);
      if (msg.caption !== undefined) renderText(el, msg.caption, msg.parse_mode);
      const meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = (msg.edit_date ? "edited " : "") + clockTime(msg.date);
      el.appendChild(meta);
      renderInlineKeyboard(msg, el);
      return el;
    }

    function renderAll() {
      const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
      list.replaceChildren();
      const ordered = [...messages.values()].sort((a, b) => a.message_id - b.message_id);
      for (const msg of ordered) if (!msg.deleted) list.appendChild(renderMessage(msg));
      if (!ordered.some((m) => !m.deleted)) {
        const hint = document.createElement("p");
        hint.className = "empty-hint";
        hint.textContent = "发送 /start 开始对话 · Send /start to begin";
        list.appendChild(hint);
      }
      if (atBottom || ordered.length < 3) list.scrollTop = list.scrollHeight;
    }

    function renderReplyKeyboard(markup) {
      replyKbd.replaceChildren();
      if (!markup || !markup.keyboard) { replyKbd.hidden = true; return; }
      for (const row of markup.keyboard) {
        const r = document.createElement("div");
        r.className = "row";
        for (const raw of row) {
          const b = typeof raw === "string" ? { text: raw } : raw;
          const btn = document.createElement("button");
          btn.type = "button";
          btn.textContent = b.text;
          if (b.request_contact) btn.dataset.requestContact = "1";
          btn.addEventListener("click", async () => {
            if (b.request_contact) {
              if (!persona.phone) { setStatus("persona has no phone"); return; }
              await post({ contact: { phone_number: persona.phone } });
            } else {
              await post({ text: b.text });
            }
            if (markup.one_time_keyboard) replyKbd.hidden = true;
          });
          r.appendChild(btn);
        }
        replyKbd.appendChild(r);
      }
      replyKbd.hidden = false;
    }

    async function post(body) {
      const resp = await fetch(api("/send"), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ user: persona.user, ...body }),
      });
      if (!resp.ok) { setStatus("error: " + ((await resp.json()).error || resp.status)); return null; }
      return resp.json();
    }

    /* A button click: the bot's pop-up answer (answerCallbackQuery text) is shown as a toast. */
    async function click(messageId, data) {
      const sent = await post({ callback: { message_id: messageId, data } });
      const id = sent && sent.update && sent.update.callback_query && sent.update.callback_query.id;
      if (!id) return;
      try {
        const resp = await fetch("_emu/callback_answers/" + encodeURIComponent(id) + "?wait=10");
        const answer = resp.ok ? await resp.json() : null;
        if (answer && answer.answer && answer.answer.text) showToast(answer.answer.text, answer.answer.show_alert);
      } catch (err) { /* the chat itself still updates */ }
    }

    function showToast(text, alertStyle) {
      const toast = document.createElement("div");
      toast.className = "toast" + (alertStyle ? " alert" : "");
      toast.setAttribute("role", "status");
      toast.textContent = text;
      document.body.appendChild(toast);
      setTimeout(() => toast.remove(), alertStyle ? 6000 : 3500);
    }

    async function upload(file) {
      const form = new FormData();
      form.append("user", JSON.stringify(persona.user));
      form.append("kind", file.type.startsWith("image/") ? "photo" : "document");
      if (input.value.trim()) { form.append("caption", input.value.trim()); input.value = ""; }
      form.append("file", file, file.name);
      const resp = await fetch(api("/send"), { method: "POST", body: form });
      if (!resp.ok) setStatus("upload failed: " + resp.status);
    }

    async function pollLoop(gen) {
      let first = true;
      while (gen === generation) {
        pollAbort = new AbortController();
        try {
          const wait = first ? 0 : 25;  /* the first look answers at once: no long "connecting…" */
          const resp = await fetch(api("/messages?since=" + rev + "&wait=" + wait), { signal: pollAbort.signal });
          if (gen !== generation) return;
          const data = await resp.json();
          for (const m of data.messages) messages.set(m.message_id, m);
          rev = data.rev;
          first = false;
          renderAll();
          renderReplyKeyboard(data.keyboard);
          setStatus("online");
        } catch (err) {
          if (gen !== generation) return;
          setStatus("offline, retrying…");
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    }

    function selectPersona(key) {
      persona = personas.find((p) => p.key === key) || personas[0];
      try { localStorage.setItem("censusbot.persona", persona.key); } catch (e) { /* private mode */ }
      generation += 1;
      if (pollAbort) pollAbort.abort();
      rev = 0;
      messages = new Map();
      renderAll();
      renderReplyKeyboard(null);
      pollLoop(generation);
    }

    $("#composer").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const text = input.value;
      if (!text.trim()) return;
      input.value = "";
      await post({ text });
    });
    $("#attach").addEventListener("click", () => fileInput.click());
    fileInput.addEventListener("change", async () => {
      if (fileInput.files.length) await upload(fileInput.files[0]);
      fileInput.value = "";
    });
    personaSelect.addEventListener("change", () => selectPersona(personaSelect.value));

    fetch("personas.json").then((r) => r.json()).then((data) => {
      personas = data.personas;
      $("#bot-name").textContent = data.bot.first_name + " @" + data.bot.username;
      if (data.notice) $("#notice").textContent = data.notice;
      for (const p of personas) {
        const opt = document.createElement("option");
        opt.value = p.key;
        opt.textContent = p.label;
        personaSelect.appendChild(opt);
      }
      let saved = null;
      try { saved = localStorage.getItem("censusbot.persona"); } catch (e) { /* ignore */ }
      const first = personas.some((p) => p.key === saved) ? saved : personas[0].key;
      personaSelect.value = first;
      selectPersona(first);
    }).catch(() => setStatus("cannot load personas"));
  })();
}

// The pages of the app. Every secret stays inside the WebAssembly module (pooya-app-core): this
// file keeps the sealed vault's bytes in IndexedDB, shows what the module says, and forgets the
// open vault on lock.
import init, * as core from "./pooya_web.js";
import { WORDS, pickLanguage } from "./i18n.js";
import * as store from "./store.js";

const IDLE_LOCK_MS = 2 * 60 * 1000;
const CLIPBOARD_CLEAR_MS = 20 * 1000;
const $ = (id) => document.getElementById(id);
const lang = pickLanguage();
const W = WORDS[lang];

let wallet = null; // the open vault (a core.Wallet), or null when locked
let current = -1; // the card on screen
let ticker = 0;
let idleTimer = 0;

function applyLanguage() {
  document.documentElement.lang = lang;
  document.documentElement.dir = lang === "fa" ? "rtl" : "ltr";
  for (const el of document.querySelectorAll("[data-t]")) {
    const w = W[el.dataset.t];
    if (typeof w === "string") el.textContent = w;
  }
  $("lang").textContent = lang === "fa" ? "English" : "فارسی";
  document.title = W.title;
}

function show(id) {
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== id;
  $("loading").hidden = true;
  $("lock").hidden = !wallet;
  if (id !== "card") stopTicker();
}

function message(kind, text) {
  for (const k of ["error", "note", "busy"]) $(k).hidden = true;
  if (text) {
    // The core's sentences start in lower case (the command line prefixes "error: ").
    $(kind).textContent = text.charAt(0).toLocaleUpperCase(lang) + text.slice(1);
    $(kind).hidden = false;
    $(kind).scrollIntoView({ block: "nearest" });
  }
}
const clear = () => message("error", "");
const errorText = (e) => (e && e.message) || String(e);

// Argon2id blocks the page for a moment: let the "working" line paint first.
const nextFrame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));

async function busy(text, fn) {
  message("busy", text);
  for (const b of document.querySelectorAll("button")) b.disabled = true;
  try {
    await nextFrame();
    return await fn();
  } finally {
    for (const b of document.querySelectorAll("button")) b.disabled = false;
    if (!$("busy").hidden) $("busy").hidden = true;
  }
}

async function save() {
  await store.put("vault", wallet.sealed());
}

// ---- create, unlock, lock ---------------------------------------------------------------------

async function onCreate(ev) {
  ev.preventDefault();
  const pw = $("create-pw").value;
  if (pw !== $("create-pw2").value) return message("error", W.mismatch);
  try {
    core.check_new_password(pw);
    await busy(W.creating, async () => {
      wallet = core.Wallet.create(pw);
      await save();
    });
    $("create-pw").value = $("create-pw2").value = "";
    opened();
  } catch (e) {
    message("error", errorText(e));
  }
}

async function onUnlock(ev) {
  ev.preventDefault();
  const pw = $("unlock-pw").value;
  // User Timing marks (BENCHMARKS.md reads them): the app's own time, password to list to codes.
  performance.mark("pooya:unlock");
  try {
    const bytes = await store.get("vault");
    await busy(W.opening, async () => {
      wallet = core.Wallet.unlock(bytes, pw);
    });
    $("unlock-pw").value = "";
    opened();
  } catch (e) {
    $("unlock-pw").select();
    message("error", errorText(e));
  }
}

function opened() {
  clear();
  resetIdle();
  showList();
}

function lock(why) {
  if (wallet) {
    wallet.free();
    wallet = null;
  }
  current = -1;
  clearTimeout(idleTimer);
  showLocked();
  if (why) message("note", why);
}

function resetIdle() {
  clearTimeout(idleTimer);
  if (wallet) idleTimer = setTimeout(() => lock(W.locked_idle), IDLE_LOCK_MS);
}

async function showLocked() {
  const bytes = await store.get("vault");
  if (!bytes) return show("create");
  show("unlock");
  const pk = await store.get("passkey");
  $("unlock-passkey").hidden = !(pk && (await passkeySupported()));
  $("unlock-pw").focus();
  // While the password is typed: Argon2's memory made ready, off the way to the code.
  setTimeout(() => core.prepare_unlock(), 0);
}

// ---- the cards --------------------------------------------------------------------------------

function showList() {
  const cards = JSON.parse(wallet.cards());
  const ul = $("cards");
  ul.replaceChildren();
  cards.forEach((c, i) => {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.index = String(i);
    const bank = document.createElement("span");
    bank.className = "bank";
    bank.textContent = `${c.bank} · ${c.label}`;
    const pan = document.createElement("span");
    pan.className = "pan";
    pan.textContent = c.masked;
    b.append(bank, pan);
    b.addEventListener("click", () => showCard(i));
    const li = document.createElement("li");
    li.append(b);
    ul.append(li);
  });
  $("empty").hidden = cards.length > 0;
  show("list");
  performance.mark("pooya:list");
  passkeySupported().then((ok) => {
    $("passkey-on").hidden = !ok || wallet === null || wallet.has_passkey();
    $("passkey-off").hidden = wallet === null || !wallet.has_passkey();
  });
}

function showCard(i) {
  performance.mark("pooya:card");
  current = i;
  const c = JSON.parse(wallet.cards())[i];
  $("card-title").textContent = c.label;
  const pan = document.createElement("bdi");
  pan.textContent = c.masked;
  $("card-sub").replaceChildren(`${c.bank} · `, pan);
  clear();
  show("card");
  tick();
  performance.mark("pooya:codes");
  ticker = setInterval(tick, 250);
}

function stopTicker() {
  clearInterval(ticker);
  ticker = 0;
}

// Both codes and the true time left (R17), on the bank's clock (R19).
function tick() {
  if (!wallet || current < 0) return stopTicker();
  try {
    const first = JSON.parse(wallet.code(current, false));
    const second = JSON.parse(wallet.code(current, true));
    $("code-first").textContent = first.code;
    $("code-second").textContent = second.code;
    const left = Math.max(0, second.remaining_ms);
    const share = left / second.lifetime_ms;
    const fill = $("bar-fill");
    fill.style.width = `${(share * 100).toFixed(1)}%`;
    fill.className = left <= 10000 ? "last" : share < 0.34 ? "low" : "";
    $("left").textContent = W.seconds_left(Math.ceil(left / 1000));
    const warn = $("card-warnings");
    if (warn.dataset.text !== second.warnings.join("\n")) {
      warn.dataset.text = second.warnings.join("\n");
      warn.replaceChildren(...second.warnings.map((w) => {
        const li = document.createElement("li");
        li.textContent = w;
        return li;
      }));
    }
  } catch (e) {
    stopTicker();
    message("error", errorText(e));
  }
}

let clipboardTimer = 0;
async function copy(id) {
  const code = $(id).textContent;
  try {
    await navigator.clipboard.writeText(code);
    message("note", W.copied);
    clearTimeout(clipboardTimer);
    // Cleared only where the browser lets a page write the clipboard without a gesture.
    clipboardTimer = setTimeout(() => navigator.clipboard.writeText("").catch(() => {}), CLIPBOARD_CLEAR_MS);
  } catch (e) {
    message("error", errorText(e));
  }
}

// ---- add, remove, sync ------------------------------------------------------------------------

function showAdd() {
  clear();
  $("add-form").reset();
  if (!$("add-server").value) $("add-server").value = location.origin;
  show("add");
  $("add-pan").focus();
}

async function onAdd(ev) {
  ev.preventDefault();
  try {
    const label = wallet.check_new_card($("add-pan").value, $("add-label").value);
    const added = await busy(W.adding, async () => {
      const enrolled = await core.enroll($("add-server").value, $("add-pan").value,
        $("add-receipt").value, $("add-sms").value, label);
      const l = wallet.add(enrolled);
      await save();
      return l;
    });
    $("add-form").reset();
    showList();
    message("note", W.added(added));
  } catch (e) {
    message("error", errorText(e));
  }
}

async function onRemove() {
  const c = JSON.parse(wallet.cards())[current];
  if (!confirm(W.confirm_remove(c.label))) return;
  const index = current;
  try {
    await busy(W.removing, () => core.revoke(wallet.removal(index)));
  } catch (e) {
    // The bank did not revoke it (no connection, or it refused): the holder decides.
    if (!confirm(W.remove_offline(errorText(e)))) return message("error", errorText(e));
  }
  wallet.forget(index);
  await save();
  current = -1;
  showList();
  message("note", W.removed(c.label));
}

async function onSync() {
  const servers = wallet.servers();
  if (servers.length === 0) return message("note", W.no_sync);
  const cards = JSON.parse(wallet.cards());
  const lines = [];
  let failed = false;
  await busy(W.syncing, async () => {
    for (const s of servers) {
      const bank = (cards.find((c) => c.server === s) || {}).bank || s;
      try {
        const clock = await core.measure_clock(s);
        lines.push(core.describe_offset(bank, clock.offset_ms()));
        wallet.set_clock(clock);
      } catch (e) {
        failed = true;
        lines.push(errorText(e));
      }
    }
    await save();
  });
  message(failed ? "error" : "note", lines.join("\n"));
}

// ---- passkey (R14): WebAuthn with the PRF extension, a second slot of the vault --------------

async function passkeySupported() {
  if (!window.PublicKeyCredential || !window.isSecureContext) return false;
  try {
    if (PublicKeyCredential.getClientCapabilities) {
      const caps = await PublicKeyCredential.getClientCapabilities();
      if ("extension:prf" in caps) return caps["extension:prf"] === true;
    }
    return await PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable();
  } catch {
    return false;
  }
}

const random = (n) => crypto.getRandomValues(new Uint8Array(n));
const b64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)));
const unb64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

async function prfFor(credentialId, salt) {
  const got = await navigator.credentials.get({
    publicKey: {
      challenge: random(32),
      allowCredentials: [{ type: "public-key", id: credentialId }],
      userVerification: "required",
      extensions: { prf: { eval: { first: salt } } },
    },
  });
  const out = got.getClientExtensionResults().prf;
  if (!out || !out.results || !out.results.first) throw new Error(W.passkey_failed);
  return new Uint8Array(out.results.first);
}

async function onPasskeyOn() {
  try {
    const salt = random(32);
    const cred = await navigator.credentials.create({
      publicKey: {
        rp: { name: "pooya" },
        user: { id: random(16), name: "pooya", displayName: "pooya" },
        challenge: random(32),
        pubKeyCredParams: [{ type: "public-key", alg: -7 }, { type: "public-key", alg: -257 }],
        authenticatorSelection: { userVerification: "required", residentKey: "preferred" },
        extensions: { prf: { eval: { first: salt } } },
      },
    });
    const ext = cred.getClientExtensionResults().prf;
    if (!ext || ext.enabled === false) throw new Error(W.passkey_failed);
    const id = new Uint8Array(cred.rawId);
    const prf = ext.results && ext.results.first ? new Uint8Array(ext.results.first) : await prfFor(id, salt);
    const held = wallet.enable_passkey(prf);
    await save();
    await store.put("passkey", { id: b64(id), salt: b64(salt), held });
    showList();
    message("note", W.passkey_on);
  } catch (e) {
    message("error", errorText(e));
  }
}

async function onPasskeyOff() {
  try {
    wallet.disable_passkey();
    await save();
    await store.del("passkey");
    showList();
    message("note", W.passkey_off);
  } catch (e) {
    message("error", errorText(e));
  }
}

async function onPasskeyUnlock() {
  try {
    const pk = await store.get("passkey");
    const prf = await prfFor(unb64(pk.id), unb64(pk.salt));
    const bytes = await store.get("vault");
    await busy(W.opening, async () => {
      wallet = core.Wallet.unlock_with_passkey(bytes, prf, pk.held);
    });
    opened();
  } catch (e) {
    message("error", errorText(e));
  }
}

// ---- start ------------------------------------------------------------------------------------

async function start() {
  applyLanguage();
  await init({ module_or_path: "pooya_web_bg.wasm" });
  core.set_language(lang === "fa");
  $("create-form").addEventListener("submit", onCreate);
  $("unlock-form").addEventListener("submit", onUnlock);
  $("unlock-passkey").addEventListener("click", onPasskeyUnlock);
  $("lock").addEventListener("click", () => lock());
  $("lang").addEventListener("click", () => {
    localStorage.setItem("pooya-lang", lang === "fa" ? "en" : "fa");
    location.reload();
  });
  $("to-add").addEventListener("click", showAdd);
  $("add-form").addEventListener("submit", onAdd);
  $("add-cancel").addEventListener("click", () => { clear(); showList(); });
  $("sync").addEventListener("click", onSync);
  $("back").addEventListener("click", () => { clear(); showList(); });
  $("copy-first").addEventListener("click", () => copy("code-first"));
  $("copy-second").addEventListener("click", () => copy("code-second"));
  $("remove").addEventListener("click", onRemove);
  $("passkey-on").addEventListener("click", onPasskeyOn);
  $("passkey-off").addEventListener("click", onPasskeyOff);
  for (const ev of ["pointerdown", "keydown", "touchstart"]) document.addEventListener(ev, resetIdle, { passive: true });
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js").catch(() => {});
  await showLocked();
}

start().catch((e) => message("error", errorText(e)));

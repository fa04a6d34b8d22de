// The service worker: keeps the app's own files so it opens and makes codes with no network.
// Its cache is named after the build (build.rs puts the digest in), so a new build replaces it.
// Only the app's files are answered from the cache; calls to a bank's server always go out.
const CACHE = "pooya-app-__POOYA_BUILD__";
const FILES = [
  "./", "index.html", "app.css", "app.js", "i18n.js", "store.js", "pooya_web.js",
  "pooya_web_bg.wasm", "manifest.webmanifest", "icon.svg", "icon-192.png", "icon-512.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("pooya-app-") && k !== CACHE)
        .map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  const scope = new URL(self.registration.scope);
  if (event.request.method !== "GET" || url.origin !== scope.origin ||
      !url.pathname.startsWith(scope.pathname)) {
    return; // a bank's API: the network, never a cache
  }
  event.respondWith(
    caches.open(CACHE).then((c) => c.match(event.request, { ignoreSearch: true })
      .then((hit) => hit || fetch(event.request))),
  );
});

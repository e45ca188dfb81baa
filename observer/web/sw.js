// observer's offline shell: the page's own files, kept so the page opens without a network and
// says that observer cannot be reached. Only these files: never the API, the WebSocket, the
// login, or anything a session said (they are not in the list, so they go to the network as
// if this worker were not there). Each file comes from the network when it can, so a newer
// observer's page is shown at once, and from the cache when it cannot.
"use strict";

const CACHE = "observer-shell-1";
const BASE = self.registration.scope; // the page's own directory: "/" unless behind a prefix
const FILES = [
  "",
  "web/style.css",
  "web/timeline.js",
  "web/session.js",
  "web/search.js",
  "web/actions.js",
  "web/app.js",
  "web/manifest.webmanifest",
  "web/favicon.png",
  "web/apple-touch-icon.png",
  "web/icon-192.png",
].map((file) => new URL(file, BASE).href);
const SHELL = new Set(FILES);

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  url.hash = "";
  if (request.method !== "GET" || url.search || !SHELL.has(url.href)) return;
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(url.href, copy));
        }
        return response;
      })
      .catch(() => caches.match(url.href).then((kept) => kept || Response.error()))
  );
});

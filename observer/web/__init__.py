"""The web page (index.html, app.js, style.css), served by observer.server.app at / and /web/."""

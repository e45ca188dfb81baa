"""The web page (index.html, app.js, style.css), served by observer.server at / and /web/."""

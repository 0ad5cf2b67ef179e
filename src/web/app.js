// The browser client's script (placeholder until the page lands).
"use strict";
document.getElementById("app").textContent = "chat";

// tests/browser/launch.mjs: starts headless chromium for run.mjs and large.mjs. Chromium
// normally prints its DevTools address within a second; once in a clean CI run it printed
// nothing for 30 s (an empty profile: it never got going) and failed the whole browser test
// before any of our code ran. So a launch that times out is tried once more, with a fresh
// profile, and said so in the log; a second failure fails the test as before.
import fs from 'node:fs';
import puppeteer from 'puppeteer-core';

// launch(options, log): puppeteer.launch with one retry after a launch timeout.
export async function launch(options, log) {
  const attempt = (userDataDir) => puppeteer.launch({ timeout: 30000, ...options, userDataDir });
  try {
    return await attempt(options.userDataDir);
  } catch (e) {
    if (!/Timed out .* WS endpoint|Timed out after/i.test(String(e && e.message))) throw e;
    const fresh = `${options.userDataDir}-retry`;
    fs.mkdirSync(fresh, { recursive: true });
    log(`chromium did not start (${e.message}); trying once more with a fresh profile`);
    return attempt(fresh);
  }
}

// Shared launcher for the browser tests: Debian's Chromium, headless, no network beyond loopback.
import { chromium } from 'playwright-core';

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

// Runs `body(page, baseUrl)` with a fresh page; exits non-zero with the error on failure.
export async function run(body) {
  const baseUrl = process.argv[2];
  if (!baseUrl) {
    console.error('usage: node <test>.mjs BASE_URL [ARGS…]');
    process.exit(2);
  }
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await body(page, baseUrl, process.argv.slice(3));
    console.log('ok');
  } catch (error) {
    console.error(error);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

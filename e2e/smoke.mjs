// The smallest browser test: the health page loads.
import { run } from './browser.mjs';

await run(async (page, baseUrl) => {
  await page.goto(`${baseUrl}/healthz`);
  const text = await page.textContent('body');
  if (text.trim() !== 'ok') throw new Error(`healthz said ${text}`);
});

// /v1/docs: the admin API's reference page renders every operation of /v1/openapi.json and
// asks no host but kopilka. An optional second argument is where to save a screenshot.
import { run } from './browser.mjs';

await run(async (page, baseUrl, [screenshot]) => {
  const origin = new URL(baseUrl).origin;
  const foreign = [];
  page.on('request', (request) => {
    if (!request.url().startsWith(origin) && !request.url().startsWith('data:')) {
      foreign.push(request.url());
    }
  });
  const document = await (await fetch(`${baseUrl}/v1/openapi.json`)).json();
  const expected = Object.values(document.paths)
    .reduce((n, item) => n + Object.keys(item).filter((k) => k !== 'parameters').length, 0);
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${baseUrl}/v1/docs`);
  await page.waitForSelector('.opblock', { timeout: 15000 });
  const rendered = await page.locator('.opblock').count();
  if (rendered !== expected) throw new Error(`${rendered} operations shown of ${expected}`);
  const title = await page.textContent('.info .title');
  if (!title.includes('kopilka admin API')) throw new Error(`title: ${title}`);
  if (foreign.length) throw new Error(`requests to other hosts: ${foreign.join(', ')}`);
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: false });
});

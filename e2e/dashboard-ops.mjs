// The dashboard's operations and outbox pages (part 2) in each language at 1280 and 390 px:
// axe-core finds no violations, nothing scrolls sideways at 390 px, the page is in the
// language asked for, and its content policy refuses nothing. SHOTS=dir saves a screenshot of
// each. An operator is the bearer of TOKEN.
// usage: node dashboard-ops.mjs BASE_URL TOKEN OPERATION_ID MESSAGE_ID
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { run } from './browser.mjs';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const shots = process.env.SHOTS;
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'];

await run(async (page, baseUrl, [token, operationId, messageId]) => {
  const problems = [];
  page.on('console', (message) => {
    if (message.text().startsWith('Failed to load resource')) return;
    if (message.type() === 'error') problems.push(`${page.url()}: console: ${message.text()}`);
  });
  await page.setExtraHTTPHeaders({ authorization: `Bearer ${token}` });
  const pages = [
    ['operations', '/admin/operations'],
    ['operations-filtered', '/admin/operations?kind=earn&protocol=native&from=2020-01-01'],
    ['operations-wrong', '/admin/operations?kind=nonsense&from=2026-13-40&customer=x'],
    ['operation', `/admin/operations/${operationId}`],
    ['outbox', '/admin/outbox?state=pending'],
    ['outbox-dead', '/admin/outbox'],
    ['message', `/admin/outbox/${messageId}`],
  ];
  for (const lang of ['uk', 'ru', 'en']) {
    for (const [name, path] of pages) {
      await page.goto(`${baseUrl}${path}${path.includes('?') ? '&' : '?'}lang=${lang}`);
      for (const width of [1280, 390]) {
        await page.setViewportSize({ width, height: 900 });
        const shown = await page.evaluate(() => ({
          scroll: document.documentElement.scrollWidth,
          inner: window.innerWidth,
          lang: document.documentElement.lang,
        }));
        if (shown.scroll > shown.inner) problems.push(`${name} (${lang}) is ${shown.scroll} px wide at ${width} px`);
        if (shown.lang !== lang) problems.push(`${name} is in "${shown.lang}", asked for ${lang}`);
        await page.evaluate(axeSource);
        const result = await page.evaluate(
          (tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags } }),
          AXE_TAGS,
        );
        for (const v of result.violations) {
          const where = v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('; ');
          problems.push(`${name} (${lang}, ${width} px): ${v.id}: ${v.help} [${where}]`);
        }
        if (shots) await page.screenshot({ path: `${shots}/${name}-${lang}-${width}.png`, fullPage: true });
      }
    }
  }
  if (problems.length) throw new Error(problems.join('\n'));
});

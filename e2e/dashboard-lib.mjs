// Helpers of the dashboard's browser tests (docs/dashboard.md): sign an operator in through
// the form, and check a page at 1280 and 390 px — axe-core (WCAG 2.1 AA) finds nothing, nothing
// scrolls sideways, the page speaks the language asked for. SHOTS=dir saves screenshots.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'];

// Signs `login` in (with `totp` when given) in `lang`; the page ends on `next` (default /admin).
export async function signIn(page, baseUrl, { login, password, totp, lang = 'en', next }) {
  await page.context().clearCookies();
  await page.context().addCookies([{ name: 'kopilka_lang', value: lang, url: baseUrl }]);
  const target = next ? `?next=${encodeURIComponent(next)}` : '';
  await page.goto(`${baseUrl}/admin/sign-in${target}`);
  await page.fill('#login', login);
  await page.fill('#password', password);
  if (totp) await page.fill('#totp', totp);
  await Promise.all([page.waitForNavigation(), page.click('#sign-in')]);
}

// Switches the language of the pages that follow (the switch's cookie).
export async function speak(page, baseUrl, lang) {
  await page.context().addCookies([{ name: 'kopilka_lang', value: lang, url: baseUrl }]);
}

// Checks the page now shown, as `name` in `lang`, at both widths; pushes what is wrong to
// `problems`.
export async function check(page, problems, name, lang) {
  await page.waitForLoadState('load');
  const shots = process.env.SHOTS;
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
    if (shots) await page.screenshot({ path: `${shots}/dash-${name}-${lang}-${width}.png`, fullPage: true });
  }
}

// Collects console errors (a content policy refusal shows there) into `problems`.
export function watchConsole(page, problems) {
  page.on('console', (message) => {
    if (message.text().startsWith('Failed to load resource')) return;
    if (message.type() === 'error') problems.push(`${page.url()}: console: ${message.text()}`);
  });
}

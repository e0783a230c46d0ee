// The dashboard's merchants and message templates pages as an administrator, in each language at 1280 and 390 px:
// axe-core finds no violations, nothing scrolls sideways at 390 px, the page is in the language
// asked for; then a credential made through the form, its secret shown once and not again.
// SHOTS=dir saves a screenshot of each.
// usage: node dashboard-merchants.mjs BASE_URL LOGIN PASSWORD
import { run } from './browser.mjs';
import { check, signIn, speak, watchConsole } from './dashboard-lib.mjs';

await run(async (page, baseUrl, [login, password]) => {
  const problems = [];
  watchConsole(page, problems);
  await signIn(page, baseUrl, { login, password, lang: 'uk', next: '/admin/merchants' });
  const pages = [
    ['merchants', '/admin/merchants'],
    ['merchant', '/admin/merchants/1'],
    ['templates', '/admin/templates?program=1'],
  ];
  for (const lang of ['uk', 'ru', 'en']) {
    await speak(page, baseUrl, lang);
    for (const [name, path] of pages) {
      await page.goto(`${baseUrl}${path}`);
      await check(page, problems, name, lang);
    }
    // A credential made from the page: its secret shown on the answer.
    await page.goto(`${baseUrl}/admin/merchants/1`);
    await page.fill('input[name=login]', `till-${lang}`);
    await Promise.all([page.waitForNavigation(), page.click('form[action$="/credentials"] button')]);
    if (!(await page.isVisible('#secret-value'))) problems.push(`${lang}: no secret shown`);
    const secret = (await page.textContent('#secret-value')).trim();
    await check(page, problems, 'secret-shown', lang);
    await page.goto(`${baseUrl}/admin/merchants/1`);
    if ((await page.content()).includes(secret)) problems.push(`${lang}: the secret shown again`);
  }
  if (problems.length) throw new Error(problems.join('\n'));
});

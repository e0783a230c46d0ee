// The dashboard's programs, program and offer pages (docs/dashboard.md, programs) as a program
// manager, in each language at 1280 and 390 px: axe-core finds no violations, nothing scrolls
// sideways at 390 px, the page is in the language asked for, and its content policy refuses
// nothing; then the settings saved and explained through their forms. SHOTS=dir saves each.
// usage: node dashboard-programs.mjs BASE_URL LOGIN PASSWORD OFFER_ID
import { run } from './browser.mjs';
import { check, signIn, speak, watchConsole } from './dashboard-lib.mjs';

await run(async (page, baseUrl, [login, password, offerId]) => {
  const problems = [];
  watchConsole(page, problems);
  await signIn(page, baseUrl, { login, password, lang: 'uk', next: '/admin/programs' });
  const offer = `/admin/programs/1/offers/${offerId}`;
  const pages = [
    ['programs', '/admin/programs'],
    ['program', '/admin/programs/1'],
    ['offer', offer],
    ['offer-explained', `${offer}?customer=1&event=like&network=vk`],
    ['offer-refused', `${offer}?customer=1&event=nope`],
  ];
  for (const lang of ['uk', 'ru', 'en']) {
    await speak(page, baseUrl, lang);
    for (const [name, path] of pages) {
      await page.goto(`${baseUrl}${path}`);
      await check(page, problems, name, lang);
    }
  }
  // A wrong time zone is refused beside its field; a right one is saved.
  await page.goto(`${baseUrl}/admin/programs/1`);
  await page.fill('#f-time_zone', 'Mars/Olympus');
  await Promise.all([page.waitForNavigation(), page.click('#program-save')]);
  if (!(await page.isVisible('#e-time_zone'))) problems.push('the time zone was not refused beside it');
  await check(page, problems, 'program-refused', 'en');
  await page.fill('#f-time_zone', 'Europe/Kyiv');
  await Promise.all([page.waitForNavigation(), page.click('#program-save')]);
  if (!(await page.isVisible('#notice'))) problems.push('the save did not say it was done');
  await check(page, problems, 'program-saved', 'en');
  // The explain form, without script.
  await page.goto(`${baseUrl}${offer}`);
  await page.fill('#f-customer', '1');
  await page.fill('#f-event', 'like');
  await page.fill('#f-network', 'vk');
  await Promise.all([page.waitForNavigation(), page.click('#explain-submit')]);
  if (!(await page.isVisible('#explained'))) problems.push('the explanation is not shown');
  if (problems.length) throw new Error(problems.join('\n'));
});

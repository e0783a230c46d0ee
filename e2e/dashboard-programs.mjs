// The dashboard's programs, program and offer pages (docs/dashboard.md, programs), the typed
// offer form and a message template's page as a program manager, in each language at 1280 and
// 390 px: axe-core finds no violations, nothing scrolls sideways at 390 px, the page is in the
// language asked for, and its content policy refuses nothing; then the settings saved and
// explained through their forms, a condition added to the offer form without script and a
// refusal shown beside its field, and a template's text refused and previewed. SHOTS=dir saves
// each.
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
    ['offer-new', '/admin/programs/1/offers/new'],
    ['offer-version', `${offer}/new`],
    ['templates', '/admin/templates?program=1'],
    ['template', '/admin/templates/offer.reward?program=1'],
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
  // The offer form: a time window added keeps the name typed; points with too many decimals
  // are refused beside their field.
  for (const lang of ['uk', 'ru', 'en']) {
    await speak(page, baseUrl, lang);
    await page.goto(`${baseUrl}/admin/programs/1/offers/new`);
    await page.fill('#f-name', 'Щасливі години');
    await page.selectOption('#new-conditions', 'time_window');
    await Promise.all([page.waitForNavigation(), page.click('#add-conditions')]);
    if (!(await page.isVisible('#row-c0'))) problems.push(`${lang}: the condition was not added`);
    if ((await page.inputValue('#f-name')) !== 'Щасливі години') problems.push(`${lang}: the name was lost`);
    await page.check('#f-c0-weekdays-mon');
    await page.fill('#f-c0-from', '09:00');
    await page.fill('#f-c0-to', '12:00');
    await page.fill('#f-a0-points', '1.005');
    await Promise.all([page.waitForNavigation(), page.click('#offer-save')]);
    if (!(await page.isVisible('#e-f-a0-points'))) problems.push(`${lang}: the points were not refused beside them`);
    await check(page, problems, 'offer-form-refused', lang);
    // A template's text with a placeholder it lacks, refused at preview.
    await page.goto(`${baseUrl}/admin/templates/offer.reward?program=1`);
    await page.fill('#f-text-ru', '{program}: {oops} {points}');
    await Promise.all([page.waitForNavigation(), page.click('#template-preview')]);
    if (!(await page.isVisible('#e-ru'))) problems.push(`${lang}: the placeholder was not refused`);
    await check(page, problems, 'template-preview', lang);
  }
  if (problems.length) throw new Error(problems.join('\n'));
});

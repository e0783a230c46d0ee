// The dashboard's merchants and message templates pages as an administrator, in each language at 1280 and 390 px:
// axe-core finds no violations, nothing scrolls sideways at 390 px, the page is in the language
// asked for; then a credential, an ECommPay project (first refused for its callback URL), a
// Kupi-Kupi platform and a Loymax application made through their forms, each secret shown
// once and not again, and a platform disabled.
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

    // The protocols' own forms: a refusal beside its field, then each secret once.
    const submit = (form) => Promise.all([page.waitForNavigation(), page.click(`form[action$="/${form}"] button`)]);
    await page.fill('#project-name', `Kiosk ${lang}`);
    await page.fill('#project-callback_url', 'http://shop.example/callback');
    await submit('ecommpay');
    if (!(await page.isVisible('#project-callback_url-error'))) problems.push(`${lang}: no error beside the callback URL`);
    await check(page, problems, 'project-refused', lang);
    await page.fill('#project-callback_url', 'https://shop.example/callback');
    await submit('ecommpay');
    if (!(await page.isVisible('#secret-value'))) problems.push(`${lang}: no project secret shown`);
    await page.fill('#platform-site', `https://${lang}.shop.example`);
    for (const field of ['success_url', 'fail_url', 'notification_url']) {
      await page.fill(`#platform-${field}`, `https://${lang}.shop.example/${field}`);
    }
    await submit('kupikupi');
    if (!(await page.isVisible('#secret-value'))) problems.push(`${lang}: no platform keys shown`);
    await page.fill('#application-client_id', `partner-${lang}`);
    await submit('loymax');
    if (!(await page.isVisible('#secret-value'))) problems.push(`${lang}: no application secret shown`);
    await check(page, problems, 'application-made', lang);
    // Disabled: the row says so and offers nothing more.
    await Promise.all([page.waitForNavigation(), page.click(`form[action$="/loymax/partner-${lang}/disable"] button`)]);
    if (await page.isVisible(`form[action$="/loymax/partner-${lang}/secret"]`)) problems.push(`${lang}: a disabled application offers a new secret`);
    await check(page, problems, 'merchant-disabled', lang);
  }
  if (problems.length) throw new Error(problems.join('\n'));
});

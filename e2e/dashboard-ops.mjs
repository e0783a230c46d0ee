// The dashboard's operations, ECommPay payments and outbox pages (docs/dashboard.md, part 2) as one operator, in
// each language at 1280 and 390 px: axe-core finds no violations, nothing scrolls sideways at
// 390 px, the page is in the language asked for, and its content policy refuses nothing; then
// a dead message resent through its button. SHOTS=dir saves a screenshot of each.
// usage: node dashboard-ops.mjs BASE_URL LOGIN PASSWORD OPERATION_ID MESSAGE_ID PAYMENT_ID
import { run } from './browser.mjs';
import { check, signIn, speak, watchConsole } from './dashboard-lib.mjs';

await run(async (page, baseUrl, [login, password, operationId, messageId, paymentId]) => {
  const problems = [];
  watchConsole(page, problems);
  await signIn(page, baseUrl, { login, password, lang: 'uk', next: '/admin/operations' });
  const pages = [
    ['operations', '/admin/operations'],
    ['operations-filtered', '/admin/operations?kind=earn&protocol=native&from=2020-01-01'],
    ['operations-wrong', '/admin/operations?kind=nonsense&from=2026-13-40&customer=x'],
    ['operation', `/admin/operations/${operationId}`],
    ['payments', '/admin/payments'],
    ['payments-wrong', '/admin/payments?status=x&to=yesterday'],
    ['payment', `/admin/payments/${paymentId}`],
    ['outbox', '/admin/outbox'],
    ['outbox-pending', '/admin/outbox?state=pending'],
    ['message', `/admin/outbox/${messageId}`],
  ];
  for (const lang of ['uk', 'ru', 'en']) {
    await speak(page, baseUrl, lang);
    for (const [name, path] of pages) {
      await page.goto(`${baseUrl}${path}`);
      await check(page, problems, name, lang);
    }
  }
  // The dead message goes back in the queue from its page, without script.
  await page.goto(`${baseUrl}/admin/outbox/${messageId}`);
  await Promise.all([page.waitForNavigation(), page.click('#resend')]);
  if (!(await page.isVisible('#resent'))) problems.push('the resend did not say it was done');
  await check(page, problems, 'message-resent', 'en');
  if (problems.length) throw new Error(problems.join('\n'));
});

// The dashboard in Chromium (docs/dashboard.md): the demo landing page, sign-in with and
// without a second factor, home, customer search → page (points, linked profiles) → accrual with a reason → block, the
// audit log — per role, in uk/ru/en at 1280 and 390 px under axe-core, nothing scrolling
// sideways. SHOTS=dir saves a screenshot of each.
// usage: node dashboard.mjs BASE_URL PASSWORD TOTP_LOGIN TOTP_SECRET_BASE32
import { createHmac } from 'node:crypto';
import { run } from './browser.mjs';
import { signIn, speak, check, watchConsole } from './dashboard-lib.mjs';

// RFC 6238 with SHA-1, 6 digits, 30 s: the code of `secret` (base32) for the time step `step`.
function totp(secret, step) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', key).update(counter).digest();
  const at = mac[mac.length - 1] & 0xf;
  const code = (mac.readUInt32BE(at) & 0x7fffffff) % 1000000;
  return String(code).padStart(6, '0');
}

const LANGS = ['uk', 'ru', 'en'];

await run(async (page, baseUrl, [password, totpLogin, totpSecret]) => {
  const problems = [];
  watchConsole(page, problems);
  const expect = (ok, what) => { if (!ok) problems.push(what); };

  for (const lang of LANGS) {
    await page.context().clearCookies();
    await speak(page, baseUrl, lang);
    await page.goto(`${baseUrl}/`);
    await check(page, problems, 'landing', lang);
    await page.goto(`${baseUrl}/admin/sign-in`);
    await check(page, problems, 'sign-in', lang);
  }

  // The demo's one-click sign-in opens the dashboard.
  await page.goto(`${baseUrl}/`);
  await Promise.all([page.waitForNavigation(), page.click('#demo-dashboard')]);
  expect(new URL(page.url()).pathname === '/admin', `demo button led to ${page.url()}`);
  expect(await page.locator('#signed-in-as').count() === 1, 'demo operator not signed in');

  // The program manager, in each language: home, search, the customer, the audit log.
  let customerUrl;
  for (const lang of LANGS) {
    await signIn(page, baseUrl, { login: 'manager', password, lang });
    expect(new URL(page.url()).pathname === '/admin', `manager landed on ${page.url()}`);
    await check(page, problems, 'home', lang);
    await page.goto(`${baseUrl}/admin/customers`);
    await page.selectOption('#by', 'phone');
    await page.fill('#q', '0671111111');
    await Promise.all([page.waitForNavigation(), page.click('#find')]);
    await check(page, problems, 'customers', lang);
    await Promise.all([page.waitForNavigation(), page.click('#customers tbody a')]);
    customerUrl = page.url();
    expect(await page.locator('#lot-table .status.soon').count() === 1, `no lot marked "expires soon" (${lang})`);
    expect((await page.textContent('#identity-table')).includes('id5551111'), `no linked VK profile (${lang})`);
    await check(page, problems, 'customer', lang);
    await page.goto(`${baseUrl}/admin/audit`);
    await check(page, problems, 'audit', lang);
    await page.goto(`${customerUrl.split('?')[0]}/anonymise`);
    await check(page, problems, 'anonymise', lang);
  }
  // Accrual with a reason, then block.
  await page.goto(customerUrl);
  const before = await page.textContent('#balance');
  await page.selectOption('#kind', 'accrue');
  await page.fill('#amount', '12,50');
  await page.fill('#reason', 'birthday gift');
  await Promise.all([page.waitForNavigation(), page.click('#adjust-submit')]);
  expect(await page.locator('#notice').count() === 1, 'no notice after the accrual');
  expect((await page.textContent('#balance')) !== before, 'the balance did not change');
  expect((await page.textContent('#operations')).includes('birthday gift'), 'the reason is not in the history');
  await check(page, problems, 'customer-accrued', 'en');
  await page.fill('#block-reason', 'card lost');
  await Promise.all([page.waitForNavigation(), page.click('#block-submit')]);
  expect(await page.locator('#unblock-submit').count() === 1, 'no unblock after blocking');
  await page.goto(`${baseUrl}/admin/audit`);
  expect((await page.textContent('#audit')).includes('/v1/customers/{id}/block'), 'the block is not in the audit log');

  // Support reads the customer but may not accrue or block; finance neither.
  for (const login of ['helpdesk', 'books']) {
    await signIn(page, baseUrl, { login, password, lang: 'en', next: new URL(customerUrl).pathname });
    expect(page.url().startsWith(customerUrl.split('?')[0]), `${login} landed on ${page.url()}`);
    expect(await page.locator('#adjust').count() === 0, `${login} sees the accrual form`);
    expect(await page.locator('#unblock').count() === 0, `${login} sees unblock`);
    await check(page, problems, `customer-${login}`, 'en');
  }

  // An operator with a second factor: the password alone asks for the code, then signs in.
  await signIn(page, baseUrl, { login: totpLogin, password, lang: 'uk' });
  expect(await page.locator('#error').count() === 1, 'no request for the code');
  await check(page, problems, 'sign-in-totp', 'uk');
  const step = Math.floor(Date.now() / 30000);
  await page.fill('#password', password);
  await page.fill('#totp', totp(totpSecret, step));
  await Promise.all([page.waitForNavigation(), page.click('#sign-in')]);
  expect(new URL(page.url()).pathname === '/admin', `the code did not sign in: ${page.url()}`);

  if (problems.length) throw new Error(`\n${problems.join('\n')}`);
});

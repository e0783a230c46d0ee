// The inCust hosted pages' guards: the earn page returns with scripts off through its visible
// button; a foreign returnurl gets an error page and nothing is posted; wrong spend passwords
// slow the guesser down and never lock the card.
import { launch } from './browser.mjs';

function expectEqual(actual, expected, what) {
  if (actual !== expected) throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

const text = async (page, selector) => (await page.textContent(selector)).trim();
const atShop = (url) => url.pathname === '/demo/shop';

async function earnWithoutScripts(browser, baseUrl) {
  const context = await browser.newContext({ javaScriptEnabled: false, locale: 'ru-RU' });
  const page = await context.newPage();
  await page.goto(`${baseUrl}/demo/shop`);
  await Promise.all([page.waitForURL((u) => u.pathname === '/app/earn/'), page.click('#earn')]);
  expectEqual(await text(page, '#earn'), '50,25 бонуса', 'bonuses to earn on 251.25');
  await page.fill('#secret', '0000');
  await Promise.all([page.waitForURL((u) => u.pathname === '/app/confirm/'), page.click('#confirm')]);
  await page.waitForSelector('#return', { state: 'visible' });
  await Promise.all([page.waitForURL(atShop), page.click('#return')]);
  const posted = page.locator('#log .entry').first();
  const field = async (name) => (await posted.locator(`[data-field="${name}"]`).textContent()).trim();
  expectEqual(await field('amount'), '251.25', 'amount');
  expectEqual(await field('bonusesearned'), '50.25', 'bonusesearned');
  expectEqual(await field('cardbonuses'), '1050.25', 'cardbonuses');
  expectEqual(await field('cardphone'), '380671111111', 'cardphone');
  expectEqual(await field('status'), '0000', 'status');
  await context.close();
}

async function foreignReturnUrl(browser, baseUrl) {
  const page = await browser.newPage({ locale: 'ru-RU' });
  const leaked = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(baseUrl) || url.startsWith('about:')) return route.continue();
    leaked.push(url);
    return route.abort();
  });
  await page.setContent(`<form id="f" action="${baseUrl}/app/redeem/" method="post">
    <input type="hidden" name="returnurl" value="https://evil.example/collect">
    <input type="hidden" name="phone" value="380501111111">
    <input type="hidden" name="password" value="0000">
    <input type="hidden" name="cardphone" value="380671111111">
    <input type="hidden" name="amount" value="251.25">
    <input type="hidden" name="comment" value="evil-1">
    <button id="go">pay</button></form>`);
  const [response] = await Promise.all([page.waitForNavigation(), page.click('#go')]);
  expectEqual(response.status(), 403, 'status of the refusal');
  // The customer reads what to do, not the shop's misconfiguration (that is in kopilka's log).
  const refusal = await text(page, '#error');
  if (!refusal.includes('Магазин передал неверные данные') || /[A-Za-z]/.test(refusal)) throw new Error(`the error speaks to the customer: ${refusal}`);
  expectEqual(await page.locator('form').count(), 0, 'forms on the error page');
  await page.waitForTimeout(300);
  expectEqual(new URL(page.url()).pathname, '/app/redeem/', 'still on kopilka');
  expectEqual(leaked.length, 0, `requests to other hosts: ${leaked}`);
  await page.close();
}

async function wrongPasswordsSlowDownNeverLock(browser, baseUrl) {
  const page = await browser.newPage({ locale: 'ru-RU' });
  await page.goto(`${baseUrl}/demo/shop`);
  await Promise.all([page.waitForNavigation(), page.click('#create-order')]);
  await Promise.all([page.waitForURL((u) => u.pathname === '/app/redeem/'), page.click('#redeem')]);
  const answer = async (secret) => {
    await page.fill('#secret', secret);
    await Promise.all([page.waitForURL((u) => u.pathname === '/app/confirm/'), page.click('#confirm')]);
    return text(page, '#error');
  };
  // Four wrong passwords from one address are checked; the fifth at once waits, unchecked.
  for (let attempt = 1; attempt <= 4; attempt++) {
    const error = await answer('1111');
    if (!error.includes('Неверный пароль или код')) throw new Error(`attempt ${attempt}: ${error}`);
  }
  const error = await answer('1111');
  if (!error.includes('Слишком много попыток')) throw new Error(`attempt 5: ${error}`);
  // The card is not locked: after the delay the right password pays.
  await page.waitForTimeout(2200);
  await page.fill('#secret', '0000');
  await Promise.all([page.waitForURL(atShop), page.click('#confirm')]);
  const status = (await page.locator('#log .entry').first().locator('[data-field="status"]').textContent()).trim();
  expectEqual(status, '0000', 'paid after the delay');
  await page.close();
}

const baseUrl = process.argv[2];
const browser = await launch();
try {
  await earnWithoutScripts(browser, baseUrl);
  await foreignReturnUrl(browser, baseUrl);
  await wrongPasswordsSlowDownNeverLock(browser, baseUrl);
  console.log('ok');
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  await browser.close();
}

// The inCust demo checkout end to end: pay part of the order with bonuses on the hosted page,
// land back on the shop with the seed's fields, confirm payment (server-side XML earn), cancel.
import { run } from './browser.mjs';

function expectEqual(actual, expected, what) {
  if (actual !== expected) throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

function expectIncludes(text, part, what) {
  if (!text.includes(part)) throw new Error(`${what}: ${JSON.stringify(part)} not in ${text}`);
}

const text = async (page, selector) => (await page.textContent(selector)).trim();

await run(async (page, baseUrl) => {
  const atShop = (url) => url.pathname === '/demo/shop';
  // The customer's browser speaks Russian: the hosted page does too.
  await page.context().addCookies([{ name: 'kopilka_lang', value: 'ru', url: baseUrl }]);
  await page.goto(`${baseUrl}/demo/shop`);
  const order = await text(page, '#order-number');
  expectEqual(await text(page, '#order-amount'), '251.25', 'order amount');

  await Promise.all([page.waitForURL((u) => u.pathname === '/app/redeem/'), page.click('#redeem')]);
  expectEqual(await text(page, '#shop'), 'Demo Shop', 'shop name');
  expectEqual(await text(page, '#order'), '251,25', 'order on the page');
  expectEqual(await text(page, '#card'), '***1111', 'masked phone');
  expectEqual(await text(page, '#balance'), '1\u00a0000,00 бонуса', 'balance');
  expectEqual(await page.inputValue('#bonuses'), '251.25', 'default: the most the program allows');
  await page.fill('#bonuses', '40.00');
  await page.fill('#secret', '0000');
  await Promise.all([page.waitForURL(atShop), page.click('#confirm')]);

  const posted = page.locator('#log .entry').first();
  const field = async (name) => (await posted.locator(`[data-field="${name}"]`).textContent()).trim();
  const redeemId = await field('transactionid');
  if (!/^\d+$/.test(redeemId)) throw new Error(`transactionid ${redeemId}`);
  expectEqual(await field('cardphone'), '380671111111', 'cardphone posted back');
  expectEqual(await field('bonusesredeemed'), '40.00', 'bonusesredeemed');
  expectEqual(await field('cardbonuses'), '960.00', 'cardbonuses');
  expectEqual(await field('status'), '0000', 'status');
  expectEqual(await text(page, '#order-redeemed'), '40.00', 'order paid with bonuses');
  expectEqual(await text(page, '#order-to-pay'), '211.25', 'left to pay');

  await Promise.all([page.waitForNavigation(), page.click('#paid')]);
  const earn = page.locator('#log .entry').first();
  const request = await earn.locator('pre.request').textContent();
  const response = await earn.locator('pre.response').textContent();
  expectIncludes(request, '<cmd>transaction</cmd>', 'earn request');
  expectIncludes(request, '<amount>211.25</amount>', 'earn request');
  expectIncludes(request, `<comment>${order}</comment>`, 'earn request');
  for (const part of ['<status>0000</status>', '<amount>211.25</amount>', '<amounttopay>211.25</amounttopay>',
    '<bonusesearned>42.25</bonusesearned>', '<cardbonuses>1002.25</cardbonuses>', '<cardphone>380671111111</cardphone>']) {
    expectIncludes(response, part, 'earn response');
  }

  await Promise.all([page.waitForNavigation(), page.click(`#op-${redeemId} button.cancel`)]);
  const cancel = await page.locator('#log .entry').first().locator('pre.response').textContent();
  for (const part of ['<cmd>transactioncancel</cmd>', '<status>0000</status>', '<cardphone>***1111</cardphone>',
    '<bonusesredeemed>-40.00</bonusesredeemed>', '<amount>-251.25</amount>', '<cardbonuses>1042.25</cardbonuses>', '<message />']) {
    expectIncludes(cancel, part, 'cancel response');
  }
  expectIncludes(await text(page, `#op-${redeemId}`), 'отменена', 'the cancelled operation');
});

// The demo shop in a browser: "pay with Kupi-Kupi points", the transfer form, the SMS code,
// back on the shop's success page. Args: ADMIN_TOKEN PHONE
import { run } from './browser.mjs';

await run(async (page, baseUrl, [adminToken, phone]) => {
  await page.goto(`${baseUrl}/demo/shop/kupikupi`);
  await Promise.all([page.waitForURL(/\/kupikupi\/transfer\//), page.click('#pay')]);
  const amount = await page.textContent('#amount');
  if (!amount.includes('250.00')) throw new Error(`form shows ${amount}`);
  const response = await page.request.get(`${baseUrl}/v1/messages?recipient=${phone}&kind=sms`, {
    headers: { Authorization: `Bearer ${adminToken}` },
  });
  const { items } = await response.json();
  const code = items[0].body.match(/\d{6}/)[0];
  await page.fill('#code', code);
  await Promise.all([page.waitForURL(`${baseUrl}/demo/shop/kupikupi/success`), page.click('#pay')]);
  const result = await page.textContent('#result');
  if (result !== 'Оплата прошла') throw new Error(`shop says ${result}`);
});

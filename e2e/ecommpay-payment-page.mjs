// The Payment Page asks for the missing personal data, then shows the CashtoCode voucher.
// usage: node ecommpay-payment-page.mjs BASE_URL PAYMENT_PAGE_URL AMOUNT
import { run } from './browser.mjs';

await run(async (page, _baseUrl, [pageUrl, amount]) => {
  await page.goto(pageUrl);
  await page.fill('#first_name', 'Erika');
  await page.fill('#last_name', 'Musterfrau');
  await page.fill('#day_of_birth', '1985-12-24');
  await page.selectOption('#country', 'DE');
  await Promise.all([page.waitForNavigation(), page.click('#pay')]);
  const code = (await page.textContent('#code')).trim();
  if (!/^\d{16}$/.test(code)) throw new Error(`no voucher code on ${page.url()}: ${code}`);
  const total = await page.textContent('#amount');
  if (!total.includes(`${amount} EUR`)) throw new Error(`amount ${total}, expected ${amount} EUR`);
});

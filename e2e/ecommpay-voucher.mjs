// The CashtoCode voucher page a Gate payment redirects to: code, Code 128 barcode, amount,
// expiry and instructions in English, and in German after the switch.
// usage: node ecommpay-voucher.mjs BASE_URL VOUCHER_URL CODE AMOUNT
import { run } from './browser.mjs';

await run(async (page, _baseUrl, [voucherUrl, code, amount]) => {
  const response = await page.goto(voucherUrl);
  if (response.status() !== 200) throw new Error(`voucher page answered ${response.status()}`);
  const shown = (await page.textContent('#code')).trim();
  if (shown !== code) throw new Error(`code ${shown}, expected ${code}`);
  const total = await page.textContent('#amount');
  if (!total.includes(`${amount} EUR`)) throw new Error(`amount ${total}, expected ${amount} EUR`);
  const expires = await page.getAttribute('#expires', 'data-expires-at');
  if (!(Number(expires) > Date.now())) throw new Error(`expiry ${expires} is not in the future`);
  const barcode = await page.$('#barcode');
  const loaded = await barcode.evaluate((img) => img.complete && img.naturalWidth > 100);
  if (!loaded) throw new Error('the barcode image did not load');
  if (!(await page.content()).includes('How to pay')) throw new Error('no instructions');
  // The switch: the same voucher in German.
  await page.click('a[hreflang="de"]');
  for (const text of ['So bezahlen Sie', 'Bargeldterminal']) {
    if (!(await page.content()).includes(text)) throw new Error(`instructions lack "${text}"`);
  }
});

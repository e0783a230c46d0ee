// The Payment Page's country choice: nothing chosen for the customer, the chosen country's
// amounts explained before the form is sent, and a refusal that is final and leads back to the
// shop. SHOTS=dir saves screenshots at 1280 and 390 px.
// usage: node ecommpay-country.mjs BASE_URL PAYMENT_PAGE_URL FAIL_URL
import { run } from './browser.mjs';

const shots = process.env.SHOTS;
async function shoot(page, name) {
  if (!shots) return;
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: 900 });
    await page.screenshot({ path: `${shots}/${name}-${width}.png`, fullPage: true });
  }
}

await run(async (page, _baseUrl, [pageUrl, failUrl]) => {
  await page.goto(pageUrl);
  if ((await page.inputValue('#country')) !== '') throw new Error('a country is chosen for the customer');
  await page.fill('#first_name', 'Max');
  await page.fill('#last_name', 'Muster');
  await page.fill('#day_of_birth', '1980-02-01');
  await page.selectOption('#country', 'DE');
  const note = page.locator('.country-note[data-country="DE"]');
  if (!(await note.isVisible())) throw new Error('the chosen country is not explained');
  const text = await note.textContent();
  if (!text.includes('cannot be paid there')) throw new Error(`explanation: ${text}`);
  if (await page.locator('.country-note[data-country="AT"]').isVisible()) {
    throw new Error('the other country is explained too');
  }
  await shoot(page, 'country-chosen');
  await Promise.all([page.waitForNavigation(), page.click('#pay')]);
  const status = await page.getAttribute('#status', 'data-code');
  if (status !== '20000') throw new Error(`after the choice: code ${status} on ${page.url()}`);
  const reason = await page.textContent('#reason');
  if (!reason.includes('In Germany CashtoCode takes')) throw new Error(`reason: ${reason}`);
  await shoot(page, 'declined');
  await Promise.all([page.waitForNavigation(), page.click('#back-to-shop')]);
  if (page.url() !== failUrl) throw new Error(`back to ${page.url()}, expected ${failUrl}`);
});

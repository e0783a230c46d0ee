// Kupi-Kupi in a browser: the customer signs in to the cabinet with an SMS code, reads the
// transfer's code there, opens the transfer form, enters a wrong code and then the right one,
// and lands on the shop's SuccessURL.
// Args: TRANSFER_URL ADMIN_TOKEN PHONE SUCCESS_URL
import { run } from './browser.mjs';

await run(async (page, baseUrl, [transferUrl, adminToken, phone, successUrl]) => {
  const newestSms = async (containing) => {
    const response = await page.request.get(`${baseUrl}/v1/messages?recipient=${phone}&kind=sms`, {
      headers: { Authorization: `Bearer ${adminToken}` },
    });
    const { items } = await response.json();
    const message = items.find((m) => m.body.includes(containing));
    if (!message) throw new Error(`no SMS containing "${containing}": ${JSON.stringify(items)}`);
    return message.body.match(/\d{6}/)[0];
  };

  await page.goto(`${baseUrl}/cabinet`);
  await page.fill('#phone', phone);
  await page.click('#send');
  await page.fill('#code', await newestSms('входа'));
  await page.click('#signin');
  await page.waitForSelector('#balance');
  const balance = await page.textContent('#balance');
  // Written as the page's language writes it: 1,000.00 or 1 000,00.
  if (balance.replace(/\D/g, '') !== '100000') throw new Error(`cabinet balance ${balance}`);
  const code = (await page.textContent('#codes .code')).trim();
  if (!/^\d{6}$/.test(code)) throw new Error(`cabinet shows no code: ${code}`);

  await page.goto(transferUrl);
  const shop = await page.textContent('#shop');
  const amount = await page.textContent('#amount');
  const masked = await page.textContent('#phone');
  if (shop !== 'Demo Shop' || !amount.includes('123.45') || masked !== `***${phone.slice(-4)}`) {
    throw new Error(`form shows ${shop} / ${amount} / ${masked}`);
  }
  if ((await newestSms('перевода')) !== code) throw new Error('the SMS and the cabinet disagree');
  await page.fill('#code', code === '000000' ? '000001' : '000000');
  await page.click('#pay');
  await page.waitForSelector('#error');
  await page.fill('#code', code);
  await Promise.all([page.waitForURL(successUrl), page.click('#pay')]);
  const landed = await page.textContent('body');
  if (!landed.includes('shop: success')) throw new Error(`landed on ${page.url()}: ${landed}`);
});

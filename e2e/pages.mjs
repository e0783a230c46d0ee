// Every customer page in each of its languages at 1280 and 390 px: axe-core finds no
// violations, nothing scrolls sideways at 390 px, the page is in the language asked for and
// its content policy refuses nothing. SHOTS=dir saves a screenshot of each.
// usage: node pages.mjs BASE_URL ADMIN_TOKEN PHONE
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { run } from './browser.mjs';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const shots = process.env.SHOTS;
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'];

await run(async (page, baseUrl, [adminToken, phone]) => {
  const problems = [];
  const seen = [];
  page.on('console', (message) => {
    // An error page's own status is no problem.
    if (message.text().startsWith('Failed to load resource')) return;
    if (message.type() === 'error') problems.push(`${page.url()}: console: ${message.text()}`);
  });

  async function check(name, lang) {
    await page.waitForLoadState('load');
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: 900 });
      const shown = await page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        inner: window.innerWidth,
        lang: document.documentElement.lang,
      }));
      if (shown.scroll > shown.inner) {
        problems.push(`${name} (${lang}) is ${shown.scroll} px wide at ${width} px`);
      }
      // The demo shops are the shops' pages, in their own language.
      const fixed = name.startsWith('demo-');
      if (shown.lang !== lang && !fixed) problems.push(`${name} is in "${shown.lang}", asked for ${lang}`);
      await page.evaluate(axeSource);
      const result = await page.evaluate(
        (tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags } }),
        AXE_TAGS,
      );
      for (const v of result.violations) {
        const where = v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('; ');
        problems.push(`${name} (${lang}, ${width} px): ${v.id}: ${v.help} [${where}]`);
      }
      if (shots) await page.screenshot({ path: `${shots}/${name}-${lang}-${width}.png`, fullPage: true });
    }
    seen.push(`${name}/${lang}`);
  }

  const speak = async (lang) => {
    await page.context().clearCookies();
    await page.context().addCookies([{ name: 'kopilka_lang', value: lang, url: baseUrl }]);
  };

  const newestCode = async (since, recipient = phone) => {
    for (let i = 0; i < 50; i += 1) {
      const response = await page.request.get(`${baseUrl}/v1/messages?recipient=${recipient}&kind=sms`, {
        headers: { Authorization: `Bearer ${adminToken}` },
      });
      const { items } = await response.json();
      const fresh = items.filter((m) => !since.includes(m.id));
      if (fresh.length) return { id: fresh[0].id, code: fresh[0].body.match(/\d{6}/)[0] };
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('no new SMS');
  };
  const smsIds = async (recipient = phone) => {
    const response = await page.request.get(`${baseUrl}/v1/messages?recipient=${recipient}&kind=sms`, {
      headers: { Authorization: `Bearer ${adminToken}` },
    });
    return (await response.json()).items.map((m) => m.id);
  };

  for (const lang of ['uk', 'ru', 'en']) {
    await speak(lang);
    // Kupi-Kupi: the demo shop sends the customer to the transfer form.
    await page.goto(`${baseUrl}/demo/shop/kupikupi`);
    await check('demo-kupikupi', lang);
    await Promise.all([page.waitForURL(/kupikupi\/transfer\//), page.click('#pay')]);
    await check('transfer-form', lang);
    await page.fill('#code', '000000');
    await page.click('#pay');
    await page.waitForLoadState('load');
    if (await page.$('#code')) await check('transfer-wrong-code', lang);

    // The cabinet: sign-in, the code step, balance (with the transfer's code), history, profile.
    await page.goto(`${baseUrl}/cabinet`);
    await check('cabinet-sign-in', lang);
    const before = await smsIds();
    await page.fill('#phone', phone);
    await Promise.all([page.waitForNavigation(), page.click('#send')]);
    await check('cabinet-code', lang);
    const { code } = await newestCode(before);
    await page.fill('#code', code);
    await Promise.all([page.waitForNavigation(), page.click('#signin')]);
    await page.waitForSelector('#balance');
    await check('cabinet-balance', lang);
    await page.goto(`${baseUrl}/cabinet/history`);
    const signs = await page.$$eval('#history td.num', (cells) => cells.map((c) => c.textContent.trim()[0]));
    if (!signs.length || !signs.every((s) => s === '+' || s === '−')) {
      problems.push(`history (${lang}) lacks signs: ${signs}`);
    }
    await check('cabinet-history', lang);
    await page.goto(`${baseUrl}/cabinet/profile`);
    await check('cabinet-profile', lang);
    // Subscriptions: a box turned over is kept.
    const box = '#subscriptions input[value="4.emailNotification"]';
    const was = await page.isChecked(box);
    await page.setChecked(box, !was);
    await Promise.all([page.waitForNavigation(), page.click('#save-subscriptions')]);
    await page.waitForSelector('#saved');
    if ((await page.isChecked(box)) === was) problems.push(`subscriptions (${lang}) were not saved`);
    await check('cabinet-profile-saved', lang);

    // Registration: a new phone, its code, the program's steps (an error first), the welcome.
    await speak(lang);
    const newcomer = `7900555100${['uk', 'ru', 'en'].indexOf(lang)}`;
    await page.goto(`${baseUrl}/cabinet`);
    await page.fill('#phone', newcomer);
    await Promise.all([page.waitForNavigation(), page.click('#send')]);
    const { code: joining } = await newestCode([], newcomer);
    await page.fill('#code', joining);
    await Promise.all([page.waitForNavigation(), page.click('#signin')]);
    await page.waitForSelector('#register');
    await check('cabinet-register', lang);
    await page.fill('#q2', 'Шевченко');
    await Promise.all([page.waitForNavigation(), page.click('#register-submit')]);
    await page.waitForSelector('.field-error');
    if ((await page.inputValue('#q2')) !== 'Шевченко') problems.push(`registration (${lang}) lost what was typed`);
    await check('cabinet-register-errors', lang);
    await page.fill('#password', 'secret1');
    await page.fill('#q7', '1990-05-17');
    await page.selectOption('#q5', '2');
    await page.check('#offer');
    await Promise.all([page.waitForNavigation(), page.click('#register-submit')]);
    await page.waitForSelector('#registered');
    await check('cabinet-registered', lang);

    // inCust: the demo shop opens the hosted redeem page.
    await page.goto(`${baseUrl}/demo/shop`);
    await check('demo-incust', lang);
    await Promise.all([page.waitForNavigation(), page.click('#redeem')]);
    await check('incust-redeem', lang);
    // A wrong spend password: the form again, with the error.
    await page.fill('#secret', '1111');
    await Promise.all([page.waitForNavigation(), page.click('#confirm')]);
    await page.waitForSelector('#error');
    await check('incust-wrong-secret', lang);
    // The switch posts the page's token: the same page in another language.
    const other = lang === 'en' ? 'uk' : 'en';
    await Promise.all([page.waitForNavigation(), page.click(`nav.languages button[value="${other}"]`)]);
    await page.waitForSelector('#secret');
    await check('incust-switched', other);
    await page.context().clearCookies();
    await page.context().addCookies([{ name: 'kopilka_lang', value: lang, url: baseUrl }]);
    await Promise.all([page.waitForNavigation(), page.click('#cancel')]);
    await page.waitForLoadState('load');
    // A page asked for without the shop's form: the error page.
    await page.goto(`${baseUrl}/app/confirm/`);
    await check('incust-error', lang);

    await page.goto(`${baseUrl}/kupikupi/transfer/no-such-form`);
    await check('not-found', lang);
  }

  // CashtoCode's pages speak English and German.
  for (const lang of ['en', 'de']) {
    await speak(lang);
    await page.goto(`${baseUrl}/demo/shop/ecommpay`);
    await check('demo-ecommpay', lang);
    await Promise.all([page.waitForNavigation(), page.click('#pay-page')]);
    await check('payment-page', lang);
    await page.fill('#first_name', 'Erika');
    await page.fill('#last_name', 'Musterfrau');
    await page.fill('#day_of_birth', '1985-12-24');
    await page.selectOption('#country', 'AT');
    await Promise.all([page.waitForNavigation(), page.click('#pay')]);
    await page.waitForSelector('#code');
    await check('voucher', lang);
    await page.goto(`${baseUrl}/payment?project_id=35`);
    await check('payment-error', lang);
  }

  if (problems.length) throw new Error(`${problems.length} problems:\n${problems.join('\n')}`);
  console.log(`checked ${seen.length} pages: ${seen.join(' ')}`);
});

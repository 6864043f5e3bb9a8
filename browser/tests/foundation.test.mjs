// The web application's foundation, seen through a real browser: language negotiation and the
// language switch, the security headers, no scripts, and CSRF protection of forms.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { launchBrowser, startServer } from './harness.mjs';

const ZH_HEADING = '互联网+医疗风险分担服务平台';
const EN_HEADING = 'Sharing the risks of Internet healthcare';

describe('web foundation', () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('the home page is Chinese by default', async () => {
    // A browser that asks for a language we do not have, and one that asks for Chinese.
    for (const locale of ['fr-FR', 'zh-CN']) {
      const context = await browser.newContext({ locale });
      const page = await context.newPage();
      const resp = await page.goto(`${server.url}/`);
      assert.equal(resp.status(), 200);
      assert.equal(await page.locator('html').getAttribute('lang'), 'zh-CN', locale);
      const h1 = await page.locator('h1').textContent();
      assert.equal(h1.trim(), ZH_HEADING);
      assert.match(await page.title(), /天平/);
      // Signed out: the navigation offers sign-in and sign-up.
      const nav = page.getByRole('navigation');
      assert.equal(await nav.getByRole('link', { name: '登录' }).count(), 1);
      assert.equal(await nav.getByRole('link', { name: '注册' }).count(), 1);
      await context.close();
    }
  });

  test('an English browser gets English', async () => {
    const context = await browser.newContext({ locale: 'en-GB' });
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    assert.equal(await page.locator('html').getAttribute('lang'), 'en-US');
    assert.equal((await page.locator('h1').textContent()).trim(), EN_HEADING);
    await context.close();
  });

  test('the language switch works without JavaScript and persists across a reload', async () => {
    const context = await browser.newContext({ locale: 'zh-CN', javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    assert.equal(await page.locator('html').getAttribute('lang'), 'zh-CN');

    const [response] = await Promise.all([
      page.waitForNavigation(),
      page.getByRole('button', { name: 'English' }).click(),
    ]);
    assert.equal(response.status(), 200);
    assert.equal(new URL(page.url()).pathname, '/', 'back where the switch was used');
    assert.equal(await page.locator('html').getAttribute('lang'), 'en-US');
    assert.equal((await page.locator('h1').textContent()).trim(), EN_HEADING);

    const lang = (await context.cookies()).find((c) => c.name === 'tp_lang');
    assert.equal(lang?.value, 'en-US');
    assert.equal(lang.httpOnly, true);
    assert.equal(lang.sameSite, 'Strict');
    assert.ok(lang.expires > Date.now() / 1000 + 300 * 24 * 3600, 'remembered for about a year');

    await page.reload();
    assert.equal(await page.locator('html').getAttribute('lang'), 'en-US');
    assert.equal((await page.locator('h1').textContent()).trim(), EN_HEADING);

    // And back to Chinese.
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: '中文' }).click()]);
    assert.equal(await page.locator('html').getAttribute('lang'), 'zh-CN');
    await context.close();
  });

  test('pages carry a script-free content security policy and run no script', async () => {
    const context = await browser.newContext({ locale: 'zh-CN' });
    const page = await context.newPage();
    const violations = [];
    page.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) {
        violations.push(msg.text());
      }
    });
    const resp = await page.goto(`${server.url}/`);
    const headers = resp.headers();
    const csp = headers['content-security-policy'];
    assert.ok(csp, 'a CSP header');
    assert.match(csp, /^default-src 'none';/);
    assert.doesNotMatch(csp, /script-src/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(headers['x-frame-options'], 'DENY');
    assert.equal(headers['referrer-policy'], 'no-referrer');
    assert.equal(headers['cache-control'], 'no-store');
    assert.equal(headers['cross-origin-opener-policy'], 'same-origin');

    assert.equal(await page.locator('script').count(), 0, 'no script elements');
    // The stylesheet loaded under the policy (computed styles differ from the browser's defaults).
    const bodyMargin = await page.evaluate(() => getComputedStyle(document.body).margin);
    assert.equal(bodyMargin, '0px');

    // An injected inline script is refused by the policy.
    await page
      .addScriptTag({ content: 'document.documentElement.setAttribute("data-ran", "yes")' })
      .catch(() => {});
    assert.equal(await page.locator('html').getAttribute('data-ran'), null, 'the script did not run');
    assert.ok(violations.length > 0, 'the browser reported the blocked script');
    await context.close();
  });

  test('the CSRF cookie is set and a language switch without the token is refused', async () => {
    const context = await browser.newContext({ locale: 'zh-CN' });
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    const csrf = (await context.cookies()).find((c) => c.name === 'tp_csrf');
    assert.match(csrf?.value ?? '', /^[0-9a-f]{64}$/);
    assert.equal(csrf.httpOnly, true);
    assert.equal(csrf.sameSite, 'Strict');
    const field = await page.locator('form[action="/lang"] input[name="csrf"]').getAttribute('value');
    assert.equal(field, csrf.value, 'the form carries the cookie');

    // The request API shares the context's cookies, so only the form field is missing or wrong.
    for (const form of [
      { lang: 'en-US', next: '/' },
      { lang: 'en-US', next: '/', csrf: 'f'.repeat(64) },
    ]) {
      const resp = await page.request.post(`${server.url}/lang`, { form, maxRedirects: 0 });
      assert.equal(resp.status(), 403, JSON.stringify(form));
      assert.match(resp.headers()['content-type'], /^text\/html/);
      const body = await resp.text();
      assert.match(body, /表单已过期/);
      assert.ok(!(resp.headers()['set-cookie'] ?? '').includes('tp_lang='), 'no language cookie');
    }
    assert.equal((await context.cookies()).find((c) => c.name === 'tp_lang'), undefined, 'no language was set');

    // With the token, and only a local target.
    let resp = await page.request.post(`${server.url}/lang`, {
      form: { lang: 'en-US', next: '//evil.example/', csrf: field },
      maxRedirects: 0,
    });
    assert.equal(resp.status(), 400);
    resp = await page.request.post(`${server.url}/lang`, {
      form: { lang: 'en-US', next: '/', csrf: field },
      maxRedirects: 0,
    });
    assert.equal(resp.status(), 303);
    assert.equal(resp.headers()['location'], '/');
    await context.close();
  });

  test('the stylesheet is served for long caching', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    const href = await page.locator('link[rel="stylesheet"]').getAttribute('href');
    assert.match(href, /^\/static\/app\.css\?v=[0-9a-f]{16}$/);
    const resp = await page.request.get(`${server.url}${href}`);
    assert.equal(resp.status(), 200);
    assert.equal(resp.headers()['content-type'], 'text/css; charset=utf-8');
    assert.match(resp.headers()['cache-control'], /max-age=31536000/);
    assert.match(await resp.text(), /:focus-visible/);
    await context.close();
  });
});

// Identity in a real browser: a doctor signs up and enrols TOTP, an operator (created with the CLI)
// signs in with TOTP and verifies the doctor, a patient signs up, grants and withdraws consent, and
// every read the doctor makes of the patient's record appears in the patient's access log.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { launchBrowser, startServer, totp } from './harness.mjs';

const PASSWORD = 'correct horse battery';
const RECORD_TEXT = '咳嗽三天，夜间加重';

/** A GB 11643 resident ID number: 17 digits and the ISO 7064 MOD 11-2 check character. */
function residentId(first17) {
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...first17].reduce((acc, d, i) => acc + Number(d) * weights[i], 0);
  return first17 + '10X98765432'[sum % 11];
}

/** The last non-empty line a CLI command printed (ids and token secrets come last). */
function lastLine(stdout) {
  return stdout.trim().split('\n').at(-1).trim();
}

describe('identity, consent and the access log', () => {
  let server;
  let browser;
  let hospitalId;
  let partnerToken;

  before(async () => {
    server = await startServer({
      setup: [
        ['org', 'create', '--name', '第一人民医院互联网医院', '--kind', 'internet_hospital'],
        ['account', 'create', '--login', 'ops', '--name', '运营 王', '--role', 'operator'],
        ['token', 'create', '--name', 'partner-a'],
      ],
      env: { TIANPING_PASSWORD: PASSWORD },
    });
    hospitalId = lastLine(server.setupOutput[0]);
    partnerToken = lastLine(server.setupOutput[2]);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** Enrol TOTP on the enrolment page; returns the secret (recovery codes are shown once). */
  async function enrol(page) {
    assert.match(page.url(), /\/totp\/enrol$/);
    const secret = (await page.locator('#totp-secret').textContent()).trim();
    await page.getByLabel(/6位动态口令/).fill(totp(secret));
    await page.getByRole('button', { name: '确认并启用' }).click();
    assert.equal(await page.locator('#recovery-codes li').count(), 10);
    await page.getByRole('link', { name: '我已保存，继续' }).click();
    return secret;
  }

  async function signUp(page, { role, login, name, id, doctor }) {
    await page.goto(`${server.url}/signup`);
    await page.getByLabel('我是').selectOption(role);
    await page.getByLabel('登录名').fill(login);
    await page.getByLabel('姓名').fill(name);
    await page.getByLabel('密码', { exact: true }).fill(PASSWORD);
    await page.getByLabel('居民身份证号码').fill(id);
    if (doctor) {
      await page.getByLabel('医师执业证书编码').fill(doctor.licence);
      await page.getByLabel('执业机构').selectOption(hospitalId);
      await page.getByLabel('专业').fill('呼吸内科');
      await page.getByLabel('独立执业年限').fill('8');
    }
    await page.getByRole('button', { name: '注册' }).click();
  }

  test('sign-up, TOTP, verification, consent and the access log', async () => {
    // The doctor signs up and must enrol a second factor before anything else.
    const doctorCtx = await browser.newContext({ locale: 'zh-CN' });
    const doctor = await doctorCtx.newPage();
    await signUp(doctor, {
      role: 'doctor',
      login: 'dr.li',
      name: '李医生',
      id: residentId('11010119800101123'),
      doctor: { licence: '110000000000001' },
    });
    const doctorSecret = await enrol(doctor);
    assert.match(doctor.url(), /\/doctor\/evidence$/);
    // The doctor uploads a scan of the practising certificate for the operator to check.
    await doctor.getByLabel('证明材料文件').setInputFiles({
      name: 'licence.png',
      mimeType: 'image/png',
      buffer: Buffer.from('89504e470d0a1a0a6c6963656e6365', 'hex'),
    });
    await doctor.getByRole('button', { name: '上传' }).click();
    assert.equal(await doctor.locator('#evidence li').count(), 1);

    // A form error is shown next to its field, translated, and the form keeps what was typed.
    const visitor = await (await browser.newContext({ locale: 'zh-CN' })).newPage();
    await signUp(visitor, { role: 'patient', login: 'x', name: '访客', id: '110101198001011230' });
    assert.equal(await visitor.locator('#login').getAttribute('aria-invalid'), 'true');
    assert.match(await visitor.locator('#login-error').textContent(), /登录名须为3至32位/);
    assert.match(await visitor.locator('#resident_id-error').textContent(), /身份证号码无效/);
    assert.equal(await visitor.locator('#display_name').inputValue(), '访客');

    // The operator (made with `tianping account create`) signs in with password and TOTP.
    const opsCtx = await browser.newContext({ locale: 'zh-CN' });
    const ops = await opsCtx.newPage();
    await ops.goto(`${server.url}/login`);
    await ops.getByLabel('登录名').fill('ops');
    await ops.getByLabel('密码').fill(PASSWORD);
    await ops.getByRole('button', { name: '登录' }).click();
    await enrol(ops);
    assert.match(ops.url(), /\/operator\/verifications$/);

    // The operator verifies the doctor from the queue.
    const card = ops.locator('#queue li.card', { hasText: '110000000000001' });
    assert.equal(await card.count(), 1);
    assert.equal(await card.locator('.evidence-links a').count(), 1);
    await card.getByRole('button', { name: '核验通过' }).click();
    assert.equal(await ops.locator('#queue-empty').count(), 1);

    // The doctor signs out and back in: password, then a code from the authenticator.
    await doctor.getByRole('button', { name: '退出登录' }).click();
    await doctor.goto(`${server.url}/login`);
    await doctor.getByLabel('登录名').fill('dr.li');
    await doctor.getByLabel('密码').fill(PASSWORD);
    await doctor.getByRole('button', { name: '登录' }).click();
    assert.match(doctor.url(), /\/totp$/);
    // The enrolment used this 30-second step; a code for the next step is within the allowed skew.
    await doctor.getByLabel(/动态口令或恢复码/).fill(totp(doctorSecret, Date.now() + 30_000));
    await doctor.getByRole('button', { name: '验证' }).click();
    assert.match(doctor.url(), /\/doctor\/evidence$/);
    assert.match(await doctor.locator('#application-status').textContent(), /已核验通过/);

    // A patient signs up; a partner platform files a consultation message about them.
    const patientCtx = await browser.newContext({ locale: 'zh-CN' });
    const patient = await patientCtx.newPage();
    await signUp(patient, { role: 'patient', login: 'wang.fang', name: '王芳', id: residentId('11010119900202234') });
    assert.match(patient.url(), /\/privacy$/);
    assert.equal(await patient.locator('#access-empty').count(), 1);
    const me = await (await patient.request.get(`${server.url}/api/v1/identity/me`)).json();
    const filed = await fetch(`${server.url}/api/v1/vault/records`, {
      method: 'POST',
      headers: { authorization: `Bearer ${partnerToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'consultation.message', subject: me.id, content: { text: RECORD_TEXT } }),
    });
    assert.equal(filed.status, 201);
    const { record_id: recordId } = await filed.json();

    // Without consent the doctor is refused.
    let resp = await doctor.goto(`${server.url}/records/${recordId}`);
    assert.equal(resp.status(), 403);
    assert.ok(!(await doctor.content()).includes(RECORD_TEXT));

    // The patient grants consent for consultation records to the hospital (a sensitive category:
    // the separate box is required).
    await patient.getByLabel('告知书').selectOption('care:1');
    await patient.getByLabel('信息类别').selectOption('consultation_record');
    await patient.getByLabel('接收机构').selectOption(hospitalId);
    await patient.getByRole('button', { name: '同意', exact: true }).click();
    assert.match(await patient.locator('#form-error').textContent(), /须单独同意/);
    await patient.getByLabel('告知书').selectOption('care:1');
    await patient.getByLabel('信息类别').selectOption('consultation_record');
    await patient.getByLabel('接收机构').selectOption(hospitalId);
    await patient.getByLabel(/我单独同意/).check();
    await patient.getByRole('button', { name: '同意', exact: true }).click();
    assert.equal(await patient.locator('#consents tr.consent-active').count(), 1);

    // Now the doctor reads the record.
    resp = await doctor.goto(`${server.url}/records/${recordId}`);
    assert.equal(resp.status(), 200);
    assert.equal((await doctor.locator('#record-content').textContent()).includes(RECORD_TEXT), true);

    // The patient sees both decisions, newest first: permitted with consent, then the refusal.
    await patient.reload();
    const rows = patient.locator('#access-log tbody tr');
    assert.equal(await rows.count(), 2);
    const newest = rows.nth(0);
    assert.match(await newest.getAttribute('class'), /access-permit/);
    assert.match(await newest.textContent(), /李医生/);
    assert.match(await newest.textContent(), /已获本人同意/);
    assert.match(await newest.textContent(), /个人同意/);
    assert.match(await rows.nth(1).getAttribute('class'), /access-deny/);

    // The patient withdraws; the doctor is refused at once, and the log shows it.
    await patient.getByRole('button', { name: '撤回' }).click();
    assert.equal(await patient.locator('#consents tr.consent-withdrawn').count(), 1);
    resp = await doctor.goto(`${server.url}/records/${recordId}`);
    assert.equal(resp.status(), 403);
    await patient.reload();
    assert.equal(await patient.locator('#access-log tbody tr').count(), 3);
    assert.match(await patient.locator('#access-log tbody tr').nth(0).getAttribute('class'), /access-deny/);

    // The patient downloads their data: their record, decrypted, with its proof.
    const download = await patient.request.get(`${server.url}/privacy/export`);
    assert.equal(download.status(), 200);
    const exported = await download.json();
    const mine = exported.records.find((r) => r.id === recordId);
    assert.equal(mine.content.text, RECORD_TEXT);
    assert.match(mine.proof, /^c2sp\.org\/tlog-proof@v1/);

    // And in English, the privacy centre speaks English; the download is in the log too (own data).
    await patient.getByRole('button', { name: 'English' }).click();
    assert.equal(await patient.locator('h1').textContent(), 'Privacy centre');
    const permits = patient.locator('#access-log tbody tr.access-permit');
    assert.match(await permits.nth(0).textContent(), /Export[\s\S]*Your own data/);
    assert.match(await permits.nth(1).textContent(), /李医生[\s\S]*With the person's consent/);

    for (const ctx of [doctorCtx, opsCtx, patientCtx]) {
      await ctx.close();
    }
  });
});

// Online care in a real browser: a doctor signs up at an internet hospital and an operator verifies
// them; the operator puts the doctor on the hospital's duty roster; the hospital's system (a partner
// token made with `tianping token create --scope events:write --org …`) reports a consultation whose
// patient writes a red flag; the doctor on duty sees the alert in the duty queue, acknowledges it and
// resolves it, and the queue is empty again.
//
// The person on duty is the doctor: `tianping account create --org` needs the organisation's id, which
// only exists once `org create` has run, and the harness runs its setup commands with fixed arguments.
// The partner token is created beside the running server (`token create` takes no writer lock).

import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promisify } from 'node:util';

import { launchBrowser, startServer, tianpingBin, totp } from './harness.mjs';

const run = promisify(execFile);
const PASSWORD = 'correct horse battery';
const LICENCE = '110000000000077';
const RED_FLAG = '医生，我觉得活着没意思，不想活了';

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

describe('online care: the duty queue', () => {
  let server;
  let browser;
  let hospitalId;
  let partnerToken;

  before(async () => {
    server = await startServer({
      setup: [
        ['org', 'create', '--name', '安心互联网医院', '--kind', 'internet_hospital'],
        ['account', 'create', '--login', 'ops', '--name', '运营 王', '--role', 'operator'],
      ],
      env: { TIANPING_PASSWORD: PASSWORD },
    });
    hospitalId = lastLine(server.setupOutput[0]);
    const { stdout } = await run(tianpingBin(), [
      'token', 'create', '--name', 'anxin-his', '--scope', 'events:write', '--org', hospitalId,
      '--data-dir', server.dataDir,
    ]);
    partnerToken = lastLine(stdout);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** Enrol TOTP on the enrolment page (first sign-in of a staff role). */
  async function enrol(page) {
    assert.match(page.url(), /\/totp\/enrol$/);
    const secret = (await page.locator('#totp-secret').textContent()).trim();
    await page.getByLabel(/6位动态口令/).fill(totp(secret));
    await page.getByRole('button', { name: '确认并启用' }).click();
    await page.getByRole('link', { name: '我已保存，继续' }).click();
  }

  /** One event from the hospital's system, as it would send it (not from a page). */
  async function send(event) {
    const resp = await fetch(`${server.url}/api/v1/care/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${partnerToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(event),
    });
    const body = await resp.json();
    assert.equal(resp.status, 201, JSON.stringify(body));
    return body;
  }

  test('a red flag reaches the doctor on duty, who acknowledges and resolves it', async () => {
    // The doctor signs up at the hospital and enrols a second factor.
    const doctorCtx = await browser.newContext({ locale: 'zh-CN' });
    const doctor = await doctorCtx.newPage();
    await doctor.goto(`${server.url}/signup`);
    await doctor.getByLabel('我是').selectOption('doctor');
    await doctor.getByLabel('登录名').fill('dr.zhou');
    await doctor.getByLabel('姓名').fill('周医生');
    await doctor.getByLabel('密码', { exact: true }).fill(PASSWORD);
    await doctor.getByLabel('居民身份证号码').fill(residentId('11010119820304123'));
    await doctor.getByLabel('医师执业证书编码').fill(LICENCE);
    await doctor.getByLabel('执业机构').selectOption(hospitalId);
    await doctor.getByLabel('专业').fill('精神科');
    await doctor.getByLabel('独立执业年限').fill('10');
    await doctor.getByRole('button', { name: '注册' }).click();
    await enrol(doctor);
    assert.match(doctor.url(), /\/doctor\/evidence$/);
    const me = await (await doctor.request.get(`${server.url}/api/v1/identity/me`)).json();

    // The operator signs in, verifies the doctor, and puts them on the hospital's duty roster.
    const opsCtx = await browser.newContext({ locale: 'zh-CN' });
    const ops = await opsCtx.newPage();
    await ops.goto(`${server.url}/login`);
    await ops.getByLabel('登录名').fill('ops');
    await ops.getByLabel('密码').fill(PASSWORD);
    await ops.getByRole('button', { name: '登录' }).click();
    await enrol(ops);
    assert.match(ops.url(), /\/operator\/verifications$/);
    await ops.locator('#queue li.card', { hasText: LICENCE }).getByRole('button', { name: '核验通过' }).click();
    await ops.locator('#queue-empty').waitFor();
    const csrf = await ops.locator('input[name="csrf"]').first().inputValue();
    const roster = await ops.request.post(`${server.url}/api/v1/care/duty/${hospitalId}`, {
      headers: { 'x-csrf-token': csrf },
      data: { accounts: [me.id] },
    });
    assert.equal(roster.status(), 204, await roster.text());

    // The hospital's system reports a consultation; the patient writes a red flag.
    const now = Date.now();
    await send({
      idempotency_key: 'zc-1:0', consultation: 'zc-1', seq: 0, type: 'start',
      patient_id_number: residentId('11010119900505234'), doctor_licence: LICENCE, department: 'psychiatry',
      visit: 'follow_up', channel: 'text', jurisdiction: 'CN-11',
      prior_records: [{ institution: '北京安定医院', record_ref: 'MZ-2019-0088', diagnosis: '抑郁发作' }],
      doctor_check: { method: 'face', at_ms: now - 60_000 },
    });
    const receipt = await send({
      idempotency_key: 'zc-1:1', consultation: 'zc-1', seq: 1, type: 'message', from: 'patient', text: RED_FLAG,
    });
    assert.equal(receipt.alerts.length, 1, JSON.stringify(receipt));
    const alertId = receipt.alerts[0];

    // The doctor opens the duty queue from the navigation and finds the alert, assigned to them.
    await doctor.getByRole('link', { name: '值班队列' }).click();
    await doctor.locator('#duty-queue').waitFor();
    const row = doctor.locator(`#duty-queue tr[data-alert="${alertId}"]`);
    assert.equal(await row.count(), 1);
    assert.equal((await row.locator('td.status').textContent()).trim(), '待确认');
    assert.match(await row.textContent(), /安心互联网医院/);
    assert.match(await row.textContent(), /周医生/);
    assert.ok(!(await doctor.content()).includes(RED_FLAG), 'the queue never shows the patient\'s words');

    // Acknowledge: the page comes back with the alert acknowledged and no second acknowledge button.
    await row.getByRole('button', { name: '确认接手' }).click();
    await row.locator('td.status', { hasText: '已确认' }).waitFor();
    assert.equal(await row.getByRole('button', { name: '确认接手' }).count(), 0);

    // Resolve, with a note: the queue is empty.
    await row.getByLabel(/处理说明/).fill('已电话联系患者，建议立即到精神科急诊，家属陪同');
    await row.getByRole('button', { name: '标记为已处理' }).click();
    await doctor.locator('#duty-empty').waitFor();
    assert.equal(await doctor.locator(`tr[data-alert="${alertId}"]`).count(), 0);

    // And in English.
    await doctor.getByRole('button', { name: 'English' }).click();
    await doctor.getByRole('heading', { name: 'Duty queue' }).waitFor();
    assert.match(await doctor.locator('#duty-empty').textContent(), /no open alerts/);

    // The alert's history: acknowledged and resolved by the doctor, each a log entry.
    const detail = await (await doctor.request.get(`${server.url}/api/v1/care/alerts/${alertId}`)).json();
    assert.equal(detail.status, 'resolved');
    assert.deepEqual(detail.actions.map((a) => a.action), ['acknowledge', 'resolve']);
    assert.ok(detail.actions.every((a) => a.by === me.id && Number.isInteger(a.log_index)));

    for (const ctx of [doctorCtx, opsCtx]) {
      await ctx.close();
    }
  });
});

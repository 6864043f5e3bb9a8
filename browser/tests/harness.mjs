// Shared helpers of the browser tests: a real `tianping serve` on a free loopback port, Debian's
// Chromium driven by playwright-core, and an RFC 6238 TOTP generator for enrolment tests.

import { spawn, execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

import { chromium } from 'playwright-core';

const run = promisify(execFile);

/** How long a server may take to shut down gracefully after SIGTERM. */
const STOP_GRACE_MS = 15_000;

/** The `tianping` binary under test; set by crates/cli/tests/browser.rs. */
export function tianpingBin() {
  const bin = process.env.TIANPING_BIN;
  if (!bin) {
    throw new Error('TIANPING_BIN is not set: run these tests through `cargo nextest run -p tianping --test browser`');
  }
  return bin;
}

/**
 * Starts `tianping serve` on 127.0.0.1 with a fresh data directory.
 *
 * `setup` is an optional list of CLI argument lists run first against the same data directory
 * (e.g. `[['token', 'create', '--name', 'partner']]`); each gets `--data-dir DIR` appended, and their
 * standard output is returned as `setupOutput` (one string per command).
 *
 * Resolves once the server printed `listening on http://ADDR`; no polling, no sleeps.
 */
export async function startServer({ setup = [], env = {} } = {}) {
  const bin = tianpingBin();
  const dataDir = await mkdtemp(join(tmpdir(), 'tianping-browser-'));
  const childEnv = { ...process.env, TIANPING_LOG: process.env.TIANPING_LOG ?? 'warn', ...env };
  const setupOutput = [];
  try {
    for (const args of setup) {
      const { stdout } = await run(bin, [...args, '--data-dir', dataDir], { env: childEnv });
      setupOutput.push(stdout);
    }
  } catch (e) {
    await rm(dataDir, { recursive: true, force: true });
    throw e;
  }

  const child = spawn(
    bin,
    ['serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'],
    { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // Never leave a server behind, even when the test process ends abruptly (e.g. a runner timeout).
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  const url = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const m = /^listening on (http:\/\/\S+)$/.exec(line.trim());
      if (m) {
        resolve(m[1]);
      }
    });
    child.once('error', reject);
    exited.then(({ code, signal }) =>
      reject(new Error(`tianping serve exited (code ${code}, signal ${signal}) before listening:\n${stderr}`)),
    );
  }).catch(async (e) => {
    child.kill('SIGKILL');
    await exited;
    process.removeListener('exit', killOnExit);
    await rm(dataDir, { recursive: true, force: true });
    throw e;
  });

  let stopped = false;
  /**
   * Stops the server with SIGTERM (graceful shutdown) and removes the data directory. A server
   * still running `STOP_GRACE_MS` later is killed, and stop() then rejects: not stopping on
   * SIGTERM is a bug worth a failing test, but not a hung one.
   */
  async function stop() {
    if (stopped) {
      return;
    }
    stopped = true;
    let hung = false;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      let timer;
      const grace = new Promise((resolve) => {
        timer = setTimeout(() => resolve('timeout'), STOP_GRACE_MS);
      });
      hung = (await Promise.race([exited, grace])) === 'timeout';
      clearTimeout(timer);
      if (hung) {
        child.kill('SIGKILL');
      }
    }
    await exited;
    process.removeListener('exit', killOnExit);
    await rm(dataDir, { recursive: true, force: true });
    if (hung) {
      throw new Error(
        `tianping serve did not exit within ${STOP_GRACE_MS} ms of SIGTERM (killed); its stderr:\n${stderr}`,
      );
    }
  }

  return { url, dataDir, setupOutput, stop, stderr: () => stderr };
}

/** Chromium's path: `$CHROMIUM`, else Debian's. */
export function chromiumPath() {
  return process.env.CHROMIUM || '/usr/bin/chromium';
}

/** Launches headless Chromium (Debian's package; playwright never downloads a browser here). */
export async function launchBrowser() {
  const executablePath = chromiumPath();
  if (!existsSync(executablePath)) {
    throw new Error(`no Chromium at ${executablePath}: install Debian's package (apt-get install chromium fonts-noto-cjk)`);
  }
  return chromium.launch({
    executablePath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Decodes RFC 4648 base32 (case-insensitive; padding, spaces and hyphens ignored). */
export function base32Decode(text) {
  const clean = text.toUpperCase().replace(/[\s=-]/g, '');
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const idx = BASE32_ALPHABET.indexOf(ch);
    if (idx < 0) {
      throw new Error(`not base32: ${JSON.stringify(ch)}`);
    }
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/**
 * The RFC 6238 one-time password for `secretBase32` at `timeMs` (default now): HMAC-SHA-1,
 * 30-second steps from the Unix epoch, `digits` decimal digits (RFC 4226 dynamic truncation).
 */
export function totp(secretBase32, timeMs = Date.now(), { digits = 6, stepSeconds = 30 } = {}) {
  const key = base32Decode(secretBase32);
  const counter = BigInt(Math.floor(timeMs / 1000 / stepSeconds));
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(counter);
  const mac = createHmac('sha1', key).update(message).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

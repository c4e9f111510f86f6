// Helpers for the Gatehouse browser tests: a private server per test file,
// the administration CLI, and headless Chromium through playwright-core.

import { spawn, execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');

export const BIN = process.env.GATEHOUSE_BIN || path.join(repoRoot, 'target', 'debug', 'gatehouse');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** A TCP port that was free a moment ago on 127.0.0.1. */
async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The environment for gatehouse processes. Every GATEHOUSE_* variable is
 * dropped: the binary reads them all as configuration and refuses to start on
 * a name it does not know (GATEHOUSE_BIN, and even GATEHOUSE_LOG), and an
 * ambient GATEHOUSE_DATABASE_URL would point the tests at another database.
 */
function serverEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('GATEHOUSE_')) env[k] = v;
  }
  return { ...env, NO_COLOR: '1', ...extra };
}

/**
 * Starts `gatehouse serve` on a fresh data directory and a free port, waits
 * for GET /healthz == 200 and for the first-run banner, and returns
 * { baseURL, dataDir, operator: { username, password }, stop() }.
 * `env` adds configuration, e.g. { GATEHOUSE_DELIVERY: 'virtual' } for the
 * virtual phone (never on by default).
 */
export async function startServer({ env = {} } = {}) {
  if (!existsSync(BIN)) {
    throw new Error(`gatehouse binary not found at ${BIN}; build it with 'cargo build --bin gatehouse' or set GATEHOUSE_BIN`);
  }
  const dataDir = await mkdtemp(path.join(tmpdir(), 'gatehouse-browser-'));
  const port = await freePort();
  const baseURL = `http://127.0.0.1:${port}`;
  const child = spawn(BIN, ['--data-dir', dataDir, 'serve', '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: serverEnv({ GATEHOUSE_LOG_LEVEL: 'warn', ...env }),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });
  // Should the test process die without running `stop`, take the server along.
  const killOnExit = () => { if (exited === null) child.kill('SIGKILL'); };
  process.once('exit', killOnExit);

  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (exited === null) {
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => { if (exited === null) child.kill('SIGKILL'); }, 5000);
      await done;
      clearTimeout(timer);
    }
    await rm(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 30_000;
  let healthy = false;
  while (Date.now() < deadline) {
    if (exited !== null) {
      await stop();
      throw new Error(`gatehouse exited early (${JSON.stringify(exited)})\nstdout:\n${stdout}\nstderr:\n${stderr}`);
    }
    try {
      const res = await fetch(`${baseURL}/healthz`);
      if (res.status === 200) { healthy = true; }
    } catch { /* not listening yet */ }
    if (healthy && /Password\s+\S+/.test(stdout)) break;
    await sleep(100);
  }
  if (!healthy) {
    await stop();
    throw new Error(`gatehouse did not become healthy at ${baseURL}/healthz\nstderr:\n${stderr}`);
  }
  const user = stdout.match(/^\s*Username\s+(\S+)\s*$/m);
  const pass = stdout.match(/^\s*Password\s+(\S+)\s*$/m);
  if (!user || !pass) {
    await stop();
    throw new Error(`no first-run banner with the operator's one-time password on stdout:\n${stdout}`);
  }
  return {
    baseURL,
    dataDir,
    operator: { username: user[1], password: pass[1] },
    logs: () => ({ stdout, stderr }),
    stop,
  };
}

/** Runs the CLI against `dataDir`; resolves to trimmed stdout. */
export function cli(dataDir, args, input) {
  return new Promise((resolve, reject) => {
    const child = execFile(
      BIN,
      ['--data-dir', dataDir, ...args],
      { env: serverEnv(), timeout: 30_000 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`gatehouse ${args.join(' ')} failed: ${err.message}\n${stderr}`));
        } else {
          resolve(stdout.trim());
        }
      },
    );
    if (input !== undefined) child.stdin.end(`${input}\n`);
    else child.stdin.end();
  });
}

const lastLine = (s) => s.split('\n').filter(Boolean).pop();

/** Creates a customer account; resolves to its account number. */
export async function createAccount(dataDir, name) {
  const out = await cli(dataDir, ['account', 'create', '--name', name]);
  const number = lastLine(out);
  if (!/^\d+$/.test(number)) throw new Error(`unexpected account number: ${out}`);
  return number;
}

/** Creates a user with a known password; resolves to the user id (number). */
export async function createUser(dataDir, { account, username, email, name = '', role, password }) {
  const out = await cli(
    dataDir,
    ['user', 'create', '--account', account, '--username', username, '--email', email, '--name', name, '--role', role, '--password-stdin'],
    password,
  );
  const id = lastLine(out);
  if (!/^\d+$/.test(id)) throw new Error(`unexpected user id: ${out}`);
  return Number(id);
}

export async function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

/** Fills the sign-in form and submits it; waits for the resulting page. */
export async function signIn(page, username, password) {
  await page.goto('/login');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await Promise.all([
    page.waitForNavigation(),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
}

/** Clicks a button that submits a form, waiting for the next page. */
export async function submit(page, name) {
  await Promise.all([
    page.waitForNavigation(),
    page.getByRole('button', { name, exact: true }).click(),
  ]);
}

/** The error paragraph rendered in the same form field as the labelled control. */
export function fieldError(page, label) {
  return page
    .locator('div.field')
    .filter({ has: page.getByLabel(label, { exact: true }) })
    .locator('p.error');
}

/** The table row of the Users screen whose Username cell is `username`. */
export function userRow(page, username) {
  return page
    .getByRole('row')
    .filter({ has: page.getByRole('cell', { name: username, exact: true }) });
}

/** Texts of the body cells of a row, in order. */
export async function rowCells(row) {
  return (await row.getByRole('cell').allInnerTexts()).map((t) => t.trim());
}

// ---------------------------------------------------------------------------
// The Symantec path: soft credentials, TOTP codes, PSKC files, the operator.

/** Decodes RFC 4648 base32 (upper or lower case, padding optional). */
export function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = text.toUpperCase().replace(/=+$/, '').replace(/\s+/g, '');
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const idx = alphabet.indexOf(ch);
    if (idx < 0) throw new Error(`not base32: ${text}`);
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 4226 HOTP of `key` (a Buffer) at `counter`. */
export function hotp(key, counter, { digits = 6, algorithm = 'sha1' } = {}) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm, key).update(msg).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const bin = ((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
  return String(bin % 10 ** digits).padStart(digits, '0');
}

/**
 * RFC 6238 TOTP for a base32 secret (as in an otpauth:// URI): the code of
 * the time step containing `time` (ms) plus `steps`.
 */
export function totp(secretBase32, { time = Date.now(), period = 30, digits = 6, steps = 0 } = {}) {
  const counter = Math.floor(time / 1000 / period) + steps;
  return hotp(base32Decode(secretBase32), counter, { digits });
}

/** Milliseconds until the current TOTP step ends. */
export function msLeftInStep(period = 30, time = Date.now()) {
  return period * 1000 - (time % (period * 1000));
}

/**
 * `gatehouse tokens issue-soft --count N`; resolves to
 * [{ credentialId, secret (base32), uri }].
 */
export async function issueSoftCredentials(dataDir, count) {
  const out = await cli(dataDir, ['tokens', 'issue-soft', '--count', String(count)]);
  const creds = out.split('\n').map((l) => l.trim()).filter(Boolean).map((line) => {
    const m = line.match(/^(\S+)\s+(otpauth:\/\/\S+)$/);
    if (!m) throw new Error(`unexpected issue-soft line: ${line}`);
    const secret = new URL(m[2]).searchParams.get('secret');
    if (!secret) throw new Error(`no secret in ${m[2]}`);
    return { credentialId: m[1], secret, uri: m[2] };
  });
  if (creds.length !== count) throw new Error(`issue-soft printed ${creds.length} credentials, not ${count}:\n${out}`);
  return creds;
}

/**
 * Writes a PSKC file (RFC 6030) with python-pskc: secrets encrypted with
 * the pre-shared AES key `keyHex`, with a MAC. `keys` are
 * { id, seed (Buffer), algorithm: 'totp' | 'hotp' }.
 */
export function writePskc(file, keyHex, keys) {
  const script = [
    'import json, sys',
    'from pskc import PSKC',
    'spec = json.load(sys.stdin)',
    'p = PSKC()',
    'for k in spec["keys"]:',
    '    kw = dict(time_interval=30) if k["algorithm"] == "totp" else dict(counter=0)',
    '    p.add_key(id=k["id"], serial=k["id"], secret=bytes.fromhex(k["seed"]),',
    '              algorithm="urn:ietf:params:xml:ns:keyprov:pskc:" + k["algorithm"], response_length=6, **kw)',
    'p.encryption.setup_preshared_key(key=bytes.fromhex(spec["key"]))',
    'p.mac.setup()',
    'p.write(spec["file"])',
  ].join('\n');
  const spec = {
    file,
    key: keyHex,
    keys: keys.map((k) => ({ id: k.id, seed: Buffer.from(k.seed).toString('hex'), algorithm: k.algorithm || 'totp' })),
  };
  return new Promise((resolve, reject) => {
    const child = execFile('python3', ['-c', script], { timeout: 30_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`writing PSKC with python-pskc failed: ${err.message}\n${stderr}`));
      else resolve(file);
    });
    child.stdin.end(JSON.stringify(spec));
  });
}

/**
 * Signs the operator in. On the first sign-in (with the banner's one-time
 * password) the forced password change is completed with `newPassword`,
 * which is then kept in `server.operator.password`. Resolves to
 * { forced: true } when the password change was asked for.
 */
export async function signInAsOperator(page, server, newPassword = 'Operator-picks-a-long-passphrase-1') {
  const { username, password } = server.operator;
  await signIn(page, username, password);
  if (new URL(page.url()).pathname === '/password') {
    await page.getByLabel('One-time password', { exact: true }).fill(password);
    await page.getByLabel('New password', { exact: true }).fill(newPassword);
    await page.getByLabel('Confirm new password', { exact: true }).fill(newPassword);
    await submit(page, 'Change password');
    if (new URL(page.url()).pathname === '/password') {
      throw new Error(`the operator's forced password change failed:\n${await page.locator('main').innerText()}`);
    }
    server.operator.password = newPassword;
    return { forced: true };
  }
  return { forced: false };
}

/** Picks an entry of a user's Actions drop-down and presses Go. */
export async function chooseActionWithGo(page, username, label) {
  await page.getByLabel(`Actions for ${username}`, { exact: true }).selectOption({ label });
  await Promise.all([
    page.waitForNavigation(),
    userRow(page, username).getByRole('button', { name: 'Go' }).click(),
  ]);
}

/**
 * Picks an entry with the pointer: app.js navigates at once (the pointer
 * press on the select precedes the choice, as when a person clicks it open).
 */
export async function chooseActionByPointer(page, username, label) {
  const select = page.getByLabel(`Actions for ${username}`, { exact: true });
  await select.dispatchEvent('pointerdown');
  await Promise.all([page.waitForNavigation(), select.selectOption({ label })]);
}

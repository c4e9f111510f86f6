// Headless-Chromium tests of the PhoneFactor path through the real pages:
// an administrator orders PhoneFactor on the Users screen; the user activates
// it by text message, signs in by text, changes to a phone call and signs in
// by call, changes to the mobile app (the `authenticator` binary pairs from
// the page's link and approves with the number the page shows); 0# on a call
// blocks a user until an administrator clears the block; the user and an
// administrator deactivate PhoneFactor.
//
// The tests run in order and build on each other (one server for the file).
// Build first: cargo build --bin gatehouse -p gatehouse-authenticator
// Run: bash tests/browser/run.sh   (or: cd tests/browser && node --test --test-concurrency=1 phonefactor.test.mjs)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  BIN,
  startServer,
  cli,
  createAccount,
  createUser,
  launchBrowser,
  signIn,
  signInAsOperator,
  submit,
  userRow,
  chooseActionWithGo,
} from './helpers.mjs';

const AUTHENTICATOR = process.env.AUTHENTICATOR_BIN || path.join(path.dirname(BIN), 'authenticator');
const MSA_VERSION = '2026.1';
const FRANK_PHONE = '+14155550123';
const GINA_PHONE = '+14155550188';
const BLOCKED = /Sign-in is blocked because a sign-in attempt was reported as fraud/;

let server;
let browser;
let tmp;
let stateFile;
/** The administrator's page, signed in once. */
let admin;
/** frank's page while he is signed in (tests 2 to 5 use it). */
let frank;
/**
 * The "phone": a separate browser profile showing the virtual phone. The
 * virtual phone shows a number's texts and calls only to that number's user
 * and to operators, so this profile is signed in as the operator (who sees
 * every number, like a person holding both frank's and gina's phones).
 */
let phone;
const people = {};

before(async () => {
  if (!existsSync(AUTHENTICATOR)) {
    throw new Error(`authenticator binary not found at ${AUTHENTICATOR}; build it with 'cargo build --bin gatehouse -p gatehouse-authenticator' or set AUTHENTICATOR_BIN`);
  }
  // Virtual delivery is chosen explicitly; a plain serve has none.
  server = await startServer({ env: { GATEHOUSE_DELIVERY: 'virtual' } });
  browser = await launchBrowser();
  tmp = await mkdtemp(path.join(tmpdir(), 'gatehouse-phonefactor-'));
  stateFile = path.join(tmp, 'authenticator.json');
  const msa = path.join(tmp, 'msa.txt');
  await writeFile(msa, `Master Services Agreement v${MSA_VERSION}\n\n1. PhoneFactor is billed monthly.\n`);
  await cli(server.dataDir, ['price', 'set', '--method', 'phonefactor', '--amount', '300', '--currency', 'USD']);
  await cli(server.dataDir, ['msa', 'publish', '--version', MSA_VERSION, '--file', msa]);
  const account = await createAccount(server.dataDir, 'Initech');
  people.admin = { username: 'ini-admin', password: 'Initech-admin-passphrase-1' };
  await createUser(server.dataDir, { account, username: people.admin.username, email: 'admin@initech.example', name: 'Admin', role: 'admin', password: people.admin.password });
  for (const u of ['frank', 'gina']) {
    const password = `${u}-has-a-long-passphrase-7`;
    const id = await createUser(server.dataDir, { account, username: u, email: `${u}@initech.example`, name: u.toUpperCase(), role: 'user', password });
    people[u] = { id, username: u, password };
  }
  admin = await newPage();
  phone = await newPage();
  await signInAsOperator(phone, server);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function newPage() {
  const context = await browser.newContext({ baseURL: server.baseURL });
  context.setDefaultTimeout(10_000);
  context.setDefaultNavigationTimeout(15_000);
  return context.newPage();
}

/** Runs `fn` with a page in a fresh browser profile, closing it afterwards. */
async function withPage(fn) {
  const page = await newPage();
  try {
    return await fn(page);
  } finally {
    await page.context().close();
  }
}

const pathOf = (page) => new URL(page.url()).pathname;
const heading = (page) => page.getByRole('heading', { level: 1 }).innerText();
const mainText = (page) => page.locator('main').innerText();

/** Runs the authenticator binary; resolves to { code, stdout, stderr }. */
function authenticator(...args) {
  return new Promise((resolve) => {
    execFile(AUTHENTICATOR, ['--state', stateFile, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, stdout: stdout.trim(), stderr: stderr.trim() });
    });
  });
}

async function authenticatorOk(...args) {
  const r = await authenticator(...args);
  assert.equal(r.code, 0, `authenticator ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

// --- the virtual phone (its own page, as a person would look at the phone) --

const phoneURL = (number) => `/virtual-phone?number=${encodeURIComponent(number)}`;

/** Texts received by `number`, newest first. */
async function texts(number) {
  await phone.goto(phoneURL(number));
  return phone.locator('ul.messages li.msg-out span.body').allInnerTexts();
}

/** Waits for text number `count + 1` to arrive; resolves to its 6-digit code. */
async function nextCode(number, count) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const bodies = await texts(number);
    if (bodies.length > count) {
      const code = bodies[0].match(/\b(\d{6})\b/);
      assert.ok(code, `no 6-digit code in the text: ${bodies[0]}`);
      return code[1];
    }
    assert.ok(Date.now() < deadline, `no new text message for ${number} (still ${bodies.length})`);
    await phone.waitForTimeout(250);
  }
}

/** Answers the ringing call on `number` with "Press #" or "Press 0#". */
async function answerCall(number, button) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    await phone.goto(phoneURL(number));
    const ringing = phone.locator('article.call').filter({ hasText: 'Incoming call' }).first();
    if (await ringing.count()) {
      await Promise.all([
        phone.waitForURL((u) => u.searchParams.has('notice')),
        ringing.getByRole('button', { name: button, exact: true }).click(),
      ]);
      return phone.locator('main').innerText();
    }
    assert.ok(Date.now() < deadline, `no ringing call for ${number}`);
    await phone.waitForTimeout(250);
  }
}

// --- the pages ------------------------------------------------------------

/** Activate PhoneFactor's first step: number and mode, Continue. */
async function chooseNumberAndMode(page, number, mode, password) {
  assert.equal(await heading(page), 'Activate PhoneFactor');
  await page.getByLabel('Phone number', { exact: true }).fill(number);
  await page.getByRole('radio', { name: mode, exact: true }).check();
  if (password !== undefined) {
    // Changing an active PhoneFactor asks for the password again.
    await page.getByLabel(/^Your password/).fill(password);
  }
  await submit(page, 'Continue');
  assert.equal(await heading(page), 'Activate PhoneFactor');
  assert.match(await mainText(page), /Step 2 of 2/, await mainText(page));
}

/** From Security Settings: "Change number or mode" (with the password). */
async function changeNumberOrMode(page, number, mode, password) {
  await page.goto('/security');
  await Promise.all([
    page.waitForURL('**/phonefactor/activate?change=1'),
    page.getByRole('link', { name: 'Change number or mode' }).click(),
  ]);
  await chooseNumberAndMode(page, number, mode, password);
}

/** Signs in with the password and expects the PhoneFactor confirmation page. */
async function signInToConfirm(page, who) {
  await signIn(page, who.username, who.password);
  await page.waitForURL('**/login/phonefactor');
  assert.equal(await heading(page), 'Confirm your sign-in');
}

/** Waits until the page has left the sign-in flow for Security Settings. */
async function signedIn(page) {
  try {
    await page.waitForURL((u) => u.pathname === '/security', { timeout: 15_000 });
  } catch (e) {
    throw new Error(`not signed in; at ${page.url()}:\n${await mainText(page)}`, { cause: e });
  }
  assert.equal(await page.getByRole('heading', { name: 'PhoneFactor', level: 2 }).count(), 1);
}

/** The administrator's Actions entry for `username`, confirmed on its page. */
async function adminAction(username, action) {
  await admin.goto('/users');
  const actions = (await admin.getByLabel(`Actions for ${username}`, { exact: true }).locator('option').allInnerTexts()).map((s) => s.trim());
  assert.ok(actions.includes(action), `Actions for ${username}: ${actions.join(', ')}`);
  await chooseActionWithGo(admin, username, action);
  assert.equal(await heading(admin), action);
  await submit(admin, action);
  assert.equal(pathOf(admin), '/users', await mainText(admin));
}

// ---------------------------------------------------------------------------

test('an administrator orders PhoneFactor on the Users screen: Actions → Add External Authentication → PhoneFactor → Continue → MSA → Order', async () => {
  await signIn(admin, people.admin.username, people.admin.password);
  assert.equal(pathOf(admin), '/users');
  for (const u of ['frank', 'gina']) {
    await admin.goto('/users');
    await chooseActionWithGo(admin, u, 'Add External Authentication');
    assert.equal(await heading(admin), 'Add External Authentication');
    await admin.getByRole('radio', { name: 'PhoneFactor', exact: true }).check();
    await submit(admin, 'Continue');
    const msa = admin.getByRole('checkbox', { name: /Master Services Agreement/ });
    assert.equal(await msa.isChecked(), false, 'the acknowledgement is not pre-ticked');
    await msa.check();
    await submit(admin, 'Order External Authentication');
    assert.match(pathOf(admin), /^\/orders\//, `ordering for ${u} failed:\n${await mainText(admin)}`);
    await admin.goto('/users');
    assert.match(await userRow(admin, u).innerText(), /PhoneFactor/);
  }
});

test('frank signs in, lands on Activate PhoneFactor and activates it by text message', async () => {
  frank = await newPage();
  await signIn(frank, people.frank.username, people.frank.password);
  assert.equal(pathOf(frank), '/phonefactor/activate');
  const before = (await texts(FRANK_PHONE)).length;
  await chooseNumberAndMode(frank, '+1 415 555 0123', 'Text message');
  assert.match(await mainText(frank), /We sent a text message with a 6-digit code to/);
  const code = await nextCode(FRANK_PHONE, before);
  await frank.getByLabel('Code', { exact: true }).fill(code);
  await submit(frank, 'Verify');
  await signedIn(frank);
  assert.match(await frank.locator('#phonefactor').innerText(), /Text message/);
});

test('the next sign-in: "Text me a code", the code from the virtual phone, Verify', async () => {
  await withPage(async (page) => {
    await signInToConfirm(page, people.frank);
    assert.match(await mainText(page), /with PhoneFactor \(Text message\)/);
    const before = (await texts(FRANK_PHONE)).length;
    await submit(page, 'Text me a code');
    const code = await nextCode(FRANK_PHONE, before);
    await page.getByLabel('Code', { exact: true }).fill(code);
    await submit(page, 'Verify');
    await signedIn(page);
  });
});

test('frank changes to Phone call in Security Settings and signs in by call: "Call me", Press # on the phone, "I answered"', async () => {
  await changeNumberOrMode(frank, FRANK_PHONE, 'Phone call', people.frank.password);
  assert.match(await mainText(frank), /We are calling/);
  assert.match(await answerCall(FRANK_PHONE, 'Press #'), /the sign-in was confirmed/);
  // The page checks by itself every two seconds and then goes on.
  await frank.waitForURL((u) => u.pathname === '/security' && u.searchParams.get('notice') === 'phonefactor-activated');
  assert.match(await frank.locator('#phonefactor').innerText(), /Phone call/);

  await withPage(async (page) => {
    await signInToConfirm(page, people.frank);
    await submit(page, 'Call me');
    assert.match(await mainText(page), /We are calling/);
    await answerCall(FRANK_PHONE, 'Press #');
    await page.getByRole('button', { name: 'I answered', exact: true }).click();
    await signedIn(page);
  });
});

test('frank changes to Mobile app: the authenticator pairs from the page\'s link and approves with the number shown; then signs in with the app', async () => {
  await changeNumberOrMode(frank, FRANK_PHONE, 'Mobile app', people.frank.password);
  assert.equal(await frank.locator('.qr svg').count(), 1, 'a QR code');
  const link = (await frank.locator('code.pairing').innerText()).trim();
  assert.match(link, /^gatehouse-authenticator:\/\/pair\?/);
  assert.match(await authenticatorOk('pair', link), /^paired dev_\S+ as frank$/);
  // Once paired, the page (by its own check) shows the number to type.
  const number = (await frank.locator('.number-match').innerText({ timeout: 15_000 })).trim();
  assert.match(number, /^\d{2}$/);
  const pending = await authenticatorOk('pending');
  assert.match(pending, /^pfc_\S+ activation frank /);
  await authenticatorOk('approve', '--number', number);
  await frank.waitForURL((u) => u.pathname === '/security' && u.searchParams.get('notice') === 'phonefactor-activated');
  const card = await frank.locator('#phonefactor').innerText();
  assert.match(card, /Mobile app/);
  assert.match(card, /paired/);

  await withPage(async (page) => {
    await signInToConfirm(page, people.frank);
    await submit(page, 'Send a request to my app');
    const shown = (await page.locator('.number-match').innerText()).trim();
    assert.match(shown, /^\d{2}$/);
    assert.equal(await authenticatorOk('approve', '--number', shown), 'approved');
    await signedIn(page);
  });
});

test('gina activates PhoneFactor by phone call at her first sign-in; the page goes on by itself', async () => {
  await withPage(async (page) => {
    await signIn(page, people.gina.username, people.gina.password);
    assert.equal(pathOf(page), '/phonefactor/activate');
    await chooseNumberAndMode(page, GINA_PHONE, 'Phone call');
    assert.match(await answerCall(GINA_PHONE, 'Press #'), /the sign-in was confirmed/);
    await signedIn(page);
  });
});

test('0# on a call blocks gina until an administrator uses Clear Fraud Block', async () => {
  await withPage(async (page) => {
    await signInToConfirm(page, people.gina);
    await submit(page, 'Call me');
    assert.match(await answerCall(GINA_PHONE, 'Press 0#'), /You reported fraud/);
    await page.getByRole('button', { name: 'I answered', exact: true }).click();
    await page.waitForURL('**/login/phonefactor');
    await page.getByText(/reported as fraud|refused|denied/i).first().waitFor();
  });
  await withPage(async (page) => {
    await signIn(page, people.gina.username, people.gina.password);
    assert.equal(pathOf(page), '/login');
    assert.match(await mainText(page), BLOCKED);
  });

  await adminAction('gina', 'Clear Fraud Block');

  await withPage(async (page) => {
    await signInToConfirm(page, people.gina);
    await submit(page, 'Call me');
    await answerCall(GINA_PHONE, 'Press #');
    await page.getByRole('button', { name: 'I answered', exact: true }).click();
    await signedIn(page);
  });
});

test('an administrator deactivates gina\'s PhoneFactor: Actions → Deactivate PhoneFactor; she signs in with the password alone', async () => {
  await adminAction('gina', 'Deactivate PhoneFactor');
  await withPage(async (page) => {
    await signIn(page, people.gina.username, people.gina.password);
    assert.equal(pathOf(page), '/security');
  });
});

test('frank deactivates PhoneFactor in Security Settings with his password, then signs in with the password alone', async () => {
  await frank.goto('/security');
  await frank.getByLabel('Your password', { exact: true }).fill(people.frank.password);
  await submit(frank, 'Deactivate PhoneFactor');
  assert.equal(pathOf(frank), '/security');
  assert.match(await frank.locator('#phonefactor').innerText(), /deactivated/);
  await frank.context().close();
  await withPage(async (page) => {
    await signIn(page, people.frank.username, people.frank.password);
    assert.equal(pathOf(page), '/security');
  });
});

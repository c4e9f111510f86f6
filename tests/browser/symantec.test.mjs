// Headless-Chromium tests of the Symantec Identity Protection path, following
// the help article "Add External Authentication for a User" literally:
// Users screen → Actions → Add External Authentication → Symantec Identity
// Protection + Credential ID → Continue → Promo Code and MSA Acknowledgement →
// Order External Authentication (or Cancel); then the Security Code at
// sign-in, the administrators' recovery actions and the operator's Token
// Inventory (PSKC upload).
//
// Run: bash tests/browser/run.sh   (or: cd tests/browser && node --test symantec.test.mjs)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  startServer,
  cli,
  createAccount,
  createUser,
  launchBrowser,
  signIn,
  submit,
  fieldError,
  userRow,
  rowCells,
  totp,
  msLeftInStep,
  issueSoftCredentials,
  writePskc,
  signInAsOperator,
  chooseActionWithGo,
  chooseActionByPointer,
} from './helpers.mjs';

const MSA_VERSION = '2026.1';
const PSKC_KEY = '000102030405060708090a0b0c0d0e0f';
const OTHER_KEY = 'ffffffffffffffffffffffffffffffff';
/** RFC 6238's test seed "12345678901234567890", in base32. */
const TOTP_SEED_BASE32 = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
const SECURITY_CODE_FAILED = 'The security code is not right. Enter the code your credential shows now.';
const ORDER_PATH = /^\/orders\/EA-\d{8}$/;

let server;
let browser;
let tmp;
/** Soft credentials issued by the CLI, handed out one by one. */
const pool = [];

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  tmp = await mkdtemp(path.join(tmpdir(), 'gatehouse-symantec-'));
  const msa = path.join(tmp, 'msa.txt');
  await writeFile(msa, `Master Services Agreement v${MSA_VERSION}\n\n1. The provider bills external authentication monthly.\n`);
  await cli(server.dataDir, ['price', 'set', '--method', 'symantec_vip', '--amount', '500', '--currency', 'USD']);
  await cli(server.dataDir, ['msa', 'publish', '--version', MSA_VERSION, '--file', msa]);
  await cli(server.dataDir, ['promo', 'create', '--code', 'WELCOME50', '--percent-off', '50', '--months', '3']);
  pool.push(...await issueSoftCredentials(server.dataDir, 14));
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

function takeCredential() {
  const c = pool.shift();
  if (!c) throw new Error('the pool of soft credentials is empty; issue more in before()');
  assert.match(c.credentialId, /^[A-Z]{2,4}\d{8,10}$/);
  return c;
}

/** "GHST94450267" → "ghst 9445 0267": as a person might type the printed ID. */
const typedForm = (id) => id.replace(/^([A-Z]+)(\d{4})(\d{4,})$/, '$1 $2 $3').toLowerCase();
/** "GHST94450267" → "GHST••••0267": the Users screen's masked form. */
const masked = (id) => `${id.match(/^[A-Z]+/)[0]}••••${id.slice(-4)}`;

async function newPage() {
  const context = await browser.newContext({ baseURL: server.baseURL });
  context.setDefaultTimeout(10_000);
  context.setDefaultNavigationTimeout(15_000);
  const page = await context.newPage();
  return { context, page };
}

/** Runs `fn` with a page in a fresh browser profile, closing it afterwards. */
async function withPage(fn) {
  const { context, page } = await newPage();
  try {
    return await fn(page);
  } finally {
    await context.close();
  }
}

const pathOf = (page) => new URL(page.url()).pathname;
const heading = (page) => page.getByRole('heading', { level: 1 }).innerText();
const text = async (locator) => (await locator.innerText()).trim();
const mainText = (page) => page.locator('main').innerText();

/** A customer account with an administrator and the given plain users. */
async function setUpAccount(name, admin, usernames) {
  const account = await createAccount(server.dataDir, name);
  const domain = `${admin.split('-')[0]}.example`;
  const adminPassword = `${name.replace(/\W/g, '')}-admin-passphrase-1`;
  await createUser(server.dataDir, { account, username: admin, email: `admin@${domain}`, name: 'Admin', role: 'admin', password: adminPassword });
  const users = {};
  for (const u of usernames) {
    const password = `${u}-has-a-long-passphrase-7`;
    const id = await createUser(server.dataDir, { account, username: u, email: `${u}@${domain}`, name: u.toUpperCase(), role: 'user', password });
    users[u] = { id, username: u, password };
  }
  return { account, admin: { username: admin, password: adminPassword }, users };
}

// --- the two screens of Add External Authentication ------------------------

const symantecRadio = (page) => page.getByRole('radio', { name: 'Symantec Identity Protection', exact: true });
const credentialField = (page) => page.getByLabel('Credential ID', { exact: true });
const PROMO_LABEL = 'Promo Code (optional)';
const promoField = (page) => page.getByLabel(PROMO_LABEL, { exact: true });
const msaCheckbox = (page) => page.getByRole('checkbox', { name: /Master Services Agreement/ });

/** Screen 1: the radio button, the Credential ID (typed), Continue. */
async function firstScreen(page, credentialTyped) {
  assert.equal(await heading(page), 'Add External Authentication');
  await symantecRadio(page).check();
  assert.equal(await symantecRadio(page).isChecked(), true);
  await credentialField(page).fill('');
  await credentialField(page).pressSequentially(credentialTyped);
  await submit(page, 'Continue');
}

/** The price table of screen 2: { fee, discount, total }. */
async function prices(page) {
  return {
    fee: await text(page.locator('#monthly-fee')),
    discount: await text(page.locator('#discount')),
    total: await text(page.locator('#total')),
  };
}

/** The whole wizard for `username` (set-up for the sign-in tests). */
async function orderSymantec(page, username, credentialId) {
  await page.goto('/users');
  await chooseActionWithGo(page, username, 'Add External Authentication');
  await firstScreen(page, typedForm(credentialId));
  await msaCheckbox(page).check();
  await submit(page, 'Order External Authentication');
  assert.match(pathOf(page), ORDER_PATH, `ordering for ${username} failed:\n${await mainText(page)}`);
  return text(page.locator('#order-number'));
}

// --- what the server stored, through the API with the page's cookies --------

async function apiUser(page, username) {
  const res = await page.request.get(`/api/v1/users?query=${encodeURIComponent(username)}`);
  assert.equal(res.status(), 200, await res.text());
  const body = await res.json();
  const user = body.users.find((u) => u.username === username);
  assert.ok(user, `GET /api/v1/users does not list ${username}`);
  return user;
}

/** The audit entries of the admin's account with `action` about `user`. */
async function auditEntries(page, action, user) {
  const res = await page.request.get('/api/v1/audit');
  assert.equal(res.status(), 200, await res.text());
  const body = await res.json();
  assert.ok(body.total <= body.entries.length, 'audit log has more than one page; page through it');
  return body.entries.filter((e) => e.action === action && e.target === `user:${user.id} (${user.username})`);
}

/** How often WELCOME50 was redeemed, from the operator's Catalog. */
async function welcome50Used() {
  return withPage(async (page) => {
    await signInAsOperator(page, server);
    await page.goto('/catalog');
    const row = page.getByRole('row').filter({ has: page.getByRole('cell', { name: 'WELCOME50', exact: true }) });
    return Number((await rowCells(row))[3].match(/^\d+/)[0]);
  });
}

// --- sign-in with the Security Code ----------------------------------------

/** A code the credential shows at none of the steps near now. */
function wrongCode(secret) {
  const near = new Set([-3, -2, -1, 0, 1, 2, 3].map((steps) => totp(secret, { steps })));
  for (const c of ['000000', '123456', '999999', '314159', '271828']) if (!near.has(c)) return c;
  throw new Error('no wrong code found');
}

/** A TOTP code not near the end of its step (so a sign-in does not straddle two). */
async function freshTotp(secret) {
  if (msLeftInStep() < 3000) await new Promise((r) => setTimeout(r, msLeftInStep() + 200));
  return totp(secret);
}

async function enterSecurityCode(page, code) {
  await page.getByLabel('Security Code', { exact: true }).fill(code);
  await submit(page, 'Verify');
}

async function assertOnSecurityCodePage(page, username) {
  assert.equal(pathOf(page), '/login/security-code', `${username} must be asked for the Security Code`);
  assert.equal(await heading(page), 'Security Code');
  assert.match(await mainText(page), new RegExp(`Signing in as ${username.replace('.', '\\.')}\\.`));
}

async function assertSecurityCodeRefused(page) {
  assert.equal(pathOf(page), '/login/security-code', 'the code must be refused: the user stays on the Security Code page');
  assert.equal(await text(fieldError(page, 'Security Code')), SECURITY_CODE_FAILED);
  assert.equal(await page.getByLabel('Security Code', { exact: true }).getAttribute('aria-invalid'), 'true');
}

// ---------------------------------------------------------------------------

test('the seed\'s Symantec path: Actions → Add External Authentication → Credential ID → Continue → Promo Code, MSA → Order; Users screen shows the credential', async () => {
  const { admin, users } = await setUpAccount('Wayne Enterprises', 'wayne-admin', ['dave', 'erin']);
  const dave = takeCredential();
  const erin = takeCredential();

  await withPage(async (page) => {
    await signIn(page, admin.username, admin.password);
    assert.equal(pathOf(page), '/users');
    assert.equal((await rowCells(userRow(page, 'dave')))[5], 'None');
    const actions = (await page.getByLabel('Actions for dave', { exact: true }).locator('option').allInnerTexts()).map((s) => s.trim());
    assert.ok(actions.includes('Add External Authentication'), `Actions for dave: ${actions.join(', ')}`);

    // Step 2 of the article: the Actions drop-down, with the Go button.
    await chooseActionWithGo(page, 'dave', 'Add External Authentication');
    assert.equal(pathOf(page), `/users/${users.dave.id}/external-authentication`);
    assert.match(await mainText(page), /For dave \(DAVE\)/);
    assert.deepEqual(
      (await page.getByRole('radio').evaluateAll((rs) => rs.map((r) => r.labels[0].innerText.trim()))),
      ['Symantec Identity Protection', 'PhoneFactor'],
    );
    // Step 3: the radio button and the Credential ID, typed with spaces and in lower case.
    await page.getByRole('radio', { name: 'PhoneFactor', exact: true }).check();
    await firstScreen(page, typedForm(dave.credentialId));

    // Step 5: the next screen, with Promo Code and MSA Acknowledgement.
    assert.equal(await heading(page), 'Add External Authentication');
    assert.equal(await page.getByRole('heading', { name: 'Promo Code', level: 2 }).count(), 1);
    assert.equal(await page.getByRole('heading', { name: 'MSA Acknowledgement', level: 2 }).count(), 1);
    const props = await page.locator('dl.props').innerText();
    assert.match(props, /User\s+dave \(DAVE\)/);
    assert.match(props, /External Authentication Type\s+Symantec Identity Protection/);
    assert.match(props, new RegExp(`Credential ID\\s+${dave.credentialId}`), 'the Credential ID is shown in canonical form');
    assert.deepEqual(await prices(page), { fee: '5.00 USD', discount: '0.00 USD', total: '5.00 USD' });

    await promoField(page).fill('WELCOME50');
    await submit(page, 'Apply');
    assert.equal(await fieldError(page, PROMO_LABEL).count(), 0);
    assert.equal(await promoField(page).inputValue(), 'WELCOME50');
    assert.deepEqual(await prices(page), { fee: '5.00 USD', discount: '−2.50 USD', total: '2.50 USD' });
    assert.match(await page.locator('table.price').innerText(), /Discount \(WELCOME50: 50 % off for 3 months\)/);

    assert.match(await page.locator('label[for=f-msa]').innerText(), /Master Services Agreement \(version 2026\.1\)/);
    assert.equal(await page.getByRole('link', { name: 'open in a new window' }).getAttribute('href'), `/msa/${MSA_VERSION}`);
    assert.equal(await msaCheckbox(page).isChecked(), false, 'the acknowledgement is not pre-ticked');
    await msaCheckbox(page).check();

    // Step 6: Order External Authentication.
    await submit(page, 'Order External Authentication');
    assert.match(pathOf(page), ORDER_PATH);
    const number = await text(page.locator('#order-number'));
    assert.equal(pathOf(page), `/orders/${number}`);
    assert.equal(await heading(page), `Order ${number} placed`);
    const order = await mainText(page);
    assert.match(order, new RegExp(`Order number\\s+${number}`));
    assert.match(order, new RegExp(`Credential ID\\s+${dave.credentialId}`));
    assert.match(order, /Promo Code\s+WELCOME50 \(−2\.50 USD for 3 months\)/);
    assert.match(order, /Total per month\s+2\.50 USD/);
    assert.match(order, /MSA acknowledged\s+version 2026\.1 by wayne-admin/);
    // What Happens Next, as the article words it.
    assert.equal(await page.getByRole('heading', { name: 'What happens next', level: 2 }).count(), 1);
    assert.match(order, /What happens next\s+[^\n]*require the Security Code associated with the user's Credential ID entered in the system at the time Symantec Identity Protection was added to the account/);

    await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: 'Back to Users' }).click()]);
    assert.equal(pathOf(page), '/users');
    const row = userRow(page, 'dave');
    assert.equal((await rowCells(row))[5], `Symantec Identity Protection (${masked(dave.credentialId)}) active`);
    assert.equal(await text(row.locator('ul.ext li .badge')), 'active');
    const daveActions = (await page.getByLabel('Actions for dave', { exact: true }).locator('option').allInnerTexts()).map((s) => s.trim());
    for (const a of ['Remove External Authentication', 'Temporary Security Code', 'Synchronize Credential', 'Disable Credential']) {
      assert.ok(daveActions.includes(a), `after the order, Actions for dave offers ${a}: ${daveActions.join(', ')}`);
    }
    assert.deepEqual((await apiUser(page, 'dave')).external_authentication, [
      { method: 'symantec_vip', state: 'active', credential_id: dave.credentialId },
    ]);

    // The same path choosing the action with the pointer (app.js), no promo.
    await chooseActionByPointer(page, 'erin', 'Add External Authentication');
    assert.equal(pathOf(page), `/users/${users.erin.id}/external-authentication`);
    await firstScreen(page, typedForm(erin.credentialId));
    assert.deepEqual(await prices(page), { fee: '5.00 USD', discount: '0.00 USD', total: '5.00 USD' });
    await msaCheckbox(page).check();
    await submit(page, 'Order External Authentication');
    assert.match(pathOf(page), ORDER_PATH);
    assert.match(await mainText(page), /Total per month\s+5\.00 USD/);
    await page.goto('/users');
    assert.equal((await rowCells(userRow(page, 'erin')))[5], `Symantec Identity Protection (${masked(erin.credentialId)}) active`);
    assert.equal((await rowCells(userRow(page, 'dave')))[5], `Symantec Identity Protection (${masked(dave.credentialId)}) active`);
  });
});

test('Cancel on the second screen stores nothing', async () => {
  const { admin, users } = await setUpAccount('Stark Industries', 'stark-admin', ['frank', 'gina']);
  const cred = takeCredential();

  await withPage(async (page) => {
    await signIn(page, admin.username, admin.password);
    await chooseActionWithGo(page, 'frank', 'Add External Authentication');
    await firstScreen(page, typedForm(cred.credentialId));
    await promoField(page).fill('WELCOME50');
    await submit(page, 'Apply');
    assert.equal(await text(page.locator('#total')), '2.50 USD');
    await msaCheckbox(page).check();

    await submit(page, 'Cancel');
    assert.equal(pathOf(page), '/users');
    assert.equal(await text(page.locator('main [role=status]')), 'The order was cancelled; nothing was stored.');
    assert.equal((await rowCells(userRow(page, 'frank')))[5], 'None');
    const actions = (await page.getByLabel('Actions for frank', { exact: true }).locator('option').allInnerTexts()).map((s) => s.trim());
    assert.ok(!actions.includes('Remove External Authentication'), actions.join(', '));

    assert.deepEqual((await apiUser(page, 'frank')).external_authentication, []);
    assert.equal((await auditEntries(page, 'external_auth_order', users.frank)).length, 0);

    // Frank still signs in with the password alone.
    await withPage(async (p) => {
      await signIn(p, 'frank', users.frank.password);
      assert.equal(pathOf(p), '/security');
    });

    // The credential stayed in the inventory: another user's order may use it.
    await page.goto('/users');
    await chooseActionWithGo(page, 'gina', 'Add External Authentication');
    await firstScreen(page, typedForm(cred.credentialId));
    assert.equal(await page.locator('main [role=alert]').count(), 0, await mainText(page));
    assert.match(await page.locator('dl.props').innerText(), new RegExp(`Credential ID\\s+${cred.credentialId}`));
    await submit(page, 'Cancel');
    assert.equal(pathOf(page), '/users');
    assert.deepEqual((await apiUser(page, 'gina')).external_authentication, []);
  });
});

test('errors appear next to their fields: unknown Credential ID, unknown promo code, MSA not acknowledged', async () => {
  const { admin, users } = await setUpAccount('Cyberdyne Systems', 'cyberdyne-admin', ['hal']);
  const cred = takeCredential();

  await withPage(async (page) => {
    await signIn(page, admin.username, admin.password);
    await chooseActionWithGo(page, 'hal', 'Add External Authentication');
    const wizard = `/users/${users.hal.id}/external-authentication`;

    // A well-formed Credential ID that is not in the inventory.
    await firstScreen(page, 'zzzz 9999 0001');
    assert.equal(pathOf(page), wizard);
    assert.equal(await page.getByRole('button', { name: 'Order External Authentication' }).count(), 0, 'stays on the first screen');
    assert.match(await text(fieldError(page, 'Credential ID')), /^Credential ZZZZ99990001 is not known to us or not available\./);
    assert.equal(await credentialField(page).getAttribute('aria-invalid'), 'true');
    assert.equal(await credentialField(page).inputValue(), 'zzzz 9999 0001', 'what was typed is kept');
    assert.equal(await symantecRadio(page).isChecked(), true);
    assert.equal(await page.locator('main .alert-error').count(), 0, 'the error is by the field, not at the top');

    // Malformed, and empty.
    await firstScreen(page, 'not an id');
    assert.match(await text(fieldError(page, 'Credential ID')), /2–4 letters and 8–10 digits/);
    await credentialField(page).fill('');
    await submit(page, 'Continue');
    assert.match(await text(fieldError(page, 'Credential ID')), /Enter the user's Credential ID/);

    // An unknown promo code: error next to Promo Code, the price unchanged.
    await firstScreen(page, typedForm(cred.credentialId));
    assert.equal(await fieldError(page, 'Credential ID').count(), 0);
    await promoField(page).fill('NOSUCHCODE');
    await submit(page, 'Apply');
    assert.ok((await text(fieldError(page, PROMO_LABEL))).length > 0, 'an error next to Promo Code');
    assert.match(await text(fieldError(page, PROMO_LABEL)), /NOSUCHCODE/i);
    assert.equal(await promoField(page).getAttribute('aria-invalid'), 'true');
    assert.equal(await promoField(page).inputValue(), 'NOSUCHCODE');
    assert.deepEqual(await prices(page), { fee: '5.00 USD', discount: '0.00 USD', total: '5.00 USD' });

    // Ordering with the unknown code is refused the same way.
    await msaCheckbox(page).check();
    await submit(page, 'Order External Authentication');
    assert.equal(pathOf(page), wizard);
    assert.match(await text(fieldError(page, PROMO_LABEL)), /NOSUCHCODE/i);

    // Without the MSA acknowledgement: an error tied to the checkbox, nothing ordered.
    await promoField(page).fill('');
    if (await msaCheckbox(page).isChecked()) await msaCheckbox(page).uncheck();
    await submit(page, 'Order External Authentication');
    assert.equal(pathOf(page), wizard);
    assert.equal(await heading(page), 'Add External Authentication');
    const describedBy = await msaCheckbox(page).getAttribute('aria-describedby');
    assert.ok(describedBy, 'the checkbox points to its error');
    assert.equal(await text(page.locator(`#${describedBy}`)), 'Tick the box to acknowledge the Master Services Agreement.');
    assert.equal(await fieldError(page, PROMO_LABEL).count(), 0);
    assert.deepEqual((await apiUser(page, 'hal')).external_authentication, []);
    assert.equal((await auditEntries(page, 'external_auth_order', users.hal)).length, 0);
    await page.goto('/users');
    assert.equal((await rowCells(userRow(page, 'hal')))[5], 'None');
  });
});

test('operator: Token Inventory imports a PSKC file with the pre-shared key; a file for another key imports nothing', async () => {
  const goodFile = path.join(tmp, 'vendor-seeds.pskc');
  const badFile = path.join(tmp, 'other-key.pskc');
  const totpSeed = Buffer.from('12345678901234567890');
  await writePskc(goodFile, PSKC_KEY, [
    { id: 'VSST00000001', seed: totpSeed, algorithm: 'totp' },
    { id: 'UBHE00000002', seed: Buffer.from('abcdefghijabcdefghij'), algorithm: 'hotp' },
  ]);
  await writePskc(badFile, OTHER_KEY, [{ id: 'VSST00000009', seed: totpSeed, algorithm: 'totp' }]);

  const count = async (page) => Number((await text(page.locator('nav.pager span').first())).match(/^(\d+) credentials$/)[1]);
  const listed = async (page) => page.locator('table tbody td:first-child code').allInnerTexts();

  await withPage(async (page) => {
    // The first sign-in with the banner's one-time password forces a new one.
    assert.match(server.operator.password, /^[A-Za-z0-9]{4}(-[A-Za-z0-9]{4}){3}$/, 'no operator sign-in before this test');
    const { forced } = await signInAsOperator(page, server);
    assert.equal(forced, true, 'the one-time password must lead to the password change');
    assert.equal(pathOf(page), '/users');
    await Promise.all([page.waitForNavigation(), page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Token Inventory' }).click()]);
    assert.equal(pathOf(page), '/tokens');
    assert.equal(await heading(page), 'Token Inventory');
    const before = await count(page);

    await page.getByLabel('PSKC file', { exact: true }).setInputFiles(goodFile);
    await page.getByLabel('Pre-shared key (hex) (optional)', { exact: true }).fill(PSKC_KEY);
    await submit(page, 'Import');
    assert.equal(await text(page.locator('main [role=status]')), 'Imported 2 credential(s) from vendor-seeds.pskc.');
    assert.equal(await page.locator('main [role=alert]').count(), 0);
    assert.equal(await count(page), before + 2);
    const ids = await listed(page);
    assert.ok(ids.includes('VSST00000001') && ids.includes('UBHE00000002'), ids.join(', '));
    const row = page.getByRole('row').filter({ has: page.getByRole('cell', { name: 'VSST00000001', exact: true }) });
    assert.match(await row.innerText(), /TOTP/);

    // Encrypted with another key: refused with a reason, nothing imported.
    await page.getByLabel('PSKC file', { exact: true }).setInputFiles(badFile);
    await page.getByLabel('Pre-shared key (hex) (optional)', { exact: true }).fill(PSKC_KEY);
    await submit(page, 'Import');
    assert.match(await text(page.locator('main [role=alert]')), /^Nothing was imported from other-key\.pskc: \S/);
    assert.equal(await page.locator('main [role=status]').count(), 0);
    assert.equal(await count(page), before + 2);
    assert.ok(!(await listed(page)).includes('VSST00000009'));

    // A key that is not hexadecimal.
    await page.getByLabel('PSKC file', { exact: true }).setInputFiles(goodFile);
    await page.getByLabel('Pre-shared key (hex) (optional)', { exact: true }).fill('not-hex');
    await submit(page, 'Import');
    assert.match(await text(page.locator('main [role=alert]')), /must be hexadecimal/);
    assert.equal(await count(page), before + 2);
  });

  // The imported seed really is the vendor's: an order for it, and the
  // user signs in with the code computed from the seed.
  const { admin, users } = await setUpAccount('Oscorp', 'oscorp-admin', ['max']);
  await withPage(async (page) => {
    await signIn(page, admin.username, admin.password);
    await orderSymantec(page, 'max', 'VSST00000001');
  });
  await withPage(async (page) => {
    await signIn(page, 'max', users.max.password);
    await assertOnSecurityCodePage(page, 'max');
    await enterSecurityCode(page, await freshTotp(TOTP_SEED_BASE32));
    assert.equal(pathOf(page), '/security', await mainText(page));
  });
});

/**
 * Screen 2 for `username`, promo applied and MSA ticked; then the order form
 * is sent `concurrent` times at once and `after` more times one by one, as
 * the browser would send it (same hidden idempotency key). Resolves to the
 * responses: { status, path, alert }.
 */
async function submitOrderRepeatedly(page, username, credentialId, { concurrent, after }) {
  await page.goto('/users');
  await chooseActionWithGo(page, username, 'Add External Authentication');
  await firstScreen(page, typedForm(credentialId));
  await promoField(page).fill('WELCOME50');
  await submit(page, 'Apply');
  await msaCheckbox(page).check();
  const key = await page.locator('input[name=idempotency_key]').inputValue();
  assert.ok(key.length > 0, 'the order form carries an idempotency key');
  return page.evaluate(async ({ concurrent, after }) => {
    // (form.action would be the buttons named "action", hence getAttribute.)
    const form = document.querySelector('form[action$="/external-authentication"]');
    const data = new FormData(form);
    data.set('action', 'order');
    const send = async () => {
      const r = await fetch(form.getAttribute('action'), { method: 'POST', body: new URLSearchParams(data) });
      const doc = new DOMParser().parseFromString(await r.text(), 'text/html');
      return { status: r.status, path: new URL(r.url).pathname, alert: doc.querySelector('main [role=alert]')?.textContent?.trim() ?? '' };
    };
    const out = await Promise.all(Array.from({ length: concurrent }, send));
    for (let i = 0; i < after; i++) out.push(await send());
    return out;
  }, { concurrent, after });
}

test('a double submission of the order form places exactly one order', async () => {
  const { admin, users } = await setUpAccount('Tyrell Corporation', 'tyrell-admin', ['ivy', 'jack']);
  const ivy = takeCredential();
  const jack = takeCredential();

  const usedBefore = await welcome50Used();
  await withPage(async (page) => {
    await signIn(page, admin.username, admin.password);

    // The same form sent twice at once, then once more after both finished.
    // Every submission ends on the page of the one order (a later one too:
    // it must not say that ivy "already has" what she just got).
    const results = await submitOrderRepeatedly(page, 'ivy', ivy.credentialId, { concurrent: 2, after: 1 });
    for (const r of results) {
      assert.equal(r.status, 200, `every submission ends on the order page: ${JSON.stringify(results)}`);
      assert.match(r.path, ORDER_PATH, `every submission ends on the order page: ${JSON.stringify(results)}`);
    }
    assert.equal(new Set(results.map((r) => r.path)).size, 1, `one order number: ${JSON.stringify(results)}`);
    const number = results[0].path.split('/').pop();
    const orders = await auditEntries(page, 'external_auth_order', users.ivy);
    assert.equal(orders.length, 1, JSON.stringify(orders));
    assert.match(orders[0].detail, new RegExp(`^order ${number}:`));
    assert.deepEqual((await apiUser(page, 'ivy')).external_authentication, [
      { method: 'symantec_vip', state: 'active', credential_id: ivy.credentialId },
    ]);
    // The promo code was redeemed once, not once per submission.
    assert.equal(await welcome50Used(), usedBefore + 1);

    // A double click on Order External Authentication (Chromium itself sends
    // the form once; whatever it sends, one order).
    await page.goto('/users');
    await chooseActionWithGo(page, 'jack', 'Add External Authentication');
    await firstScreen(page, typedForm(jack.credentialId));
    await msaCheckbox(page).check();
    await Promise.all([
      page.waitForURL((u) => ORDER_PATH.test(u.pathname)),
      page.getByRole('button', { name: 'Order External Authentication' }).dblclick(),
    ]);
    await page.waitForLoadState('load');
    const jackOrders = await auditEntries(page, 'external_auth_order', users.jack);
    assert.equal(jackOrders.length, 1, JSON.stringify(jackOrders));
    assert.match(jackOrders[0].detail, new RegExp(`^order ${await text(page.locator('#order-number'))}:`));
    await page.goto('/users');
    assert.equal((await rowCells(userRow(page, 'jack')))[5], `Symantec Identity Protection (${masked(jack.credentialId)}) active`);
  });
});

test('sign-in with the Security Code: wrong code refused, the current code signs in, the same code again is refused', async () => {
  const { admin, users } = await setUpAccount('Soylent Corp', 'soylent-admin', ['kim']);
  const cred = takeCredential();
  await withPage(async (page) => {
    await signIn(page, admin.username, admin.password);
    await orderSymantec(page, 'kim', cred.credentialId);
  });

  const code = await freshTotp(cred.secret);
  await withPage(async (page) => {
    await signIn(page, 'kim', users.kim.password);
    await assertOnSecurityCodePage(page, 'kim');
    // Not signed in yet: the Security Settings are out of reach.
    await page.goto('/security');
    assert.notEqual(pathOf(page), '/security', 'a password alone must not open the portal');
    await page.goto('/login/security-code');
    await assertOnSecurityCodePage(page, 'kim');

    await enterSecurityCode(page, wrongCode(cred.secret));
    await assertSecurityCodeRefused(page);

    await enterSecurityCode(page, code);
    assert.equal(pathOf(page), '/security', await mainText(page));
    assert.equal(await heading(page), 'Security Settings');
  });

  // The same code in a fresh browser: refused (a code is good once).
  await withPage(async (page) => {
    await signIn(page, 'kim', users.kim.password);
    await assertOnSecurityCodePage(page, 'kim');
    await enterSecurityCode(page, code);
    // Still inside the server's window (±1 step): refused as a replay, not as stale.
    assert.ok([0, -1].some((steps) => totp(cred.secret, { steps }) === code), 'the replay came too late to prove anything');
    await assertSecurityCodeRefused(page);
    await page.goto('/security');
    assert.notEqual(pathOf(page), '/security');
  });
});

test('a security code given as proof of possession while ordering does not sign the user in afterwards', async () => {
  const { admin, users } = await setUpAccount('Initrode', 'initrode-admin', ['otto']);
  const cred = takeCredential();
  const code = await freshTotp(cred.secret);
  await withPage(async (page) => {
    await signIn(page, admin.username, admin.password);
    await chooseActionWithGo(page, 'otto', 'Add External Authentication');
    await symantecRadio(page).check();
    await credentialField(page).fill(typedForm(cred.credentialId));
    await page.getByText('Prove possession of the credential (optional)').click();
    await page.getByLabel('Security code (optional)', { exact: true }).fill(code);
    await submit(page, 'Continue');
    assert.equal(await page.getByRole('button', { name: 'Order External Authentication' }).count(), 1, await mainText(page));
    await msaCheckbox(page).check();
    await submit(page, 'Order External Authentication');
    assert.match(pathOf(page), ORDER_PATH);
  });
  await withPage(async (page) => {
    await signIn(page, 'otto', users.otto.password);
    await assertOnSecurityCodePage(page, 'otto');
    await enterSecurityCode(page, code);
    await assertSecurityCodeRefused(page);
  });
});

test('recovery from the Actions drop-down: Temporary Security Code, then Remove External Authentication', async () => {
  const { admin, users } = await setUpAccount('Umbrella Pharma', 'umbrellap-admin', ['liz']);
  const cred = takeCredential();

  await withPage(async (page) => {
    await signIn(page, admin.username, admin.password);
    await orderSymantec(page, 'liz', cred.credentialId);
    await page.goto('/users');

    // Temporary Security Code, single use, for one hour.
    await chooseActionWithGo(page, 'liz', 'Temporary Security Code');
    assert.equal(pathOf(page), `/users/${users.liz.id}/security-code/temporary`);
    assert.equal(await heading(page), 'Temporary Security Code');
    await page.getByLabel('Valid for', { exact: true }).selectOption({ label: '1 hour' });
    await page.getByLabel(/Single use/).check();
    await submit(page, 'Issue Temporary Security Code');
    const temporary = await text(page.locator('#temporary-code'));
    assert.match(temporary, /^\d{6}$/);
    assert.match(await mainText(page), /single use/);

    await withPage(async (p) => {
      await signIn(p, 'liz', users.liz.password);
      await assertOnSecurityCodePage(p, 'liz');
      await enterSecurityCode(p, temporary);
      assert.equal(pathOf(p), '/security', await mainText(p));
    });
    // Single use: the second time it is refused.
    await withPage(async (p) => {
      await signIn(p, 'liz', users.liz.password);
      await enterSecurityCode(p, temporary);
      await assertSecurityCodeRefused(p);
    });

    // Remove External Authentication, chosen with the pointer, confirmed.
    await page.goto('/users');
    await chooseActionByPointer(page, 'liz', 'Remove External Authentication');
    assert.equal(pathOf(page), `/users/${users.liz.id}/external-authentication/remove`);
    assert.equal(await heading(page), 'Remove External Authentication');
    assert.match(await mainText(page), /Remove Symantec Identity Protection from liz\?/);
    await submit(page, 'Remove External Authentication');
    assert.equal(pathOf(page), '/users');
    assert.equal(await text(page.locator('main [role=status]')), 'External authentication was removed; its monthly fee stops today.');
    assert.equal((await rowCells(userRow(page, 'liz')))[5], 'None');
    const actions = (await page.getByLabel('Actions for liz', { exact: true }).locator('option').allInnerTexts()).map((s) => s.trim());
    assert.ok(!actions.includes('Remove External Authentication') && !actions.includes('Temporary Security Code'), actions.join(', '));
    assert.deepEqual((await apiUser(page, 'liz')).external_authentication, []);
    assert.equal((await auditEntries(page, 'external_auth_remove', users.liz)).length, 1);
  });

  // Liz signs in with the password alone.
  await withPage(async (page) => {
    await signIn(page, 'liz', users.liz.password);
    assert.equal(pathOf(page), '/security', await mainText(page));
    assert.equal(await heading(page), 'Security Settings');
  });
});


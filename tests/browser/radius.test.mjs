// Headless-Chromium test of the operator's RADIUS Clients page: reached
// from the navigation, a client registered from the form (its shared
// secret shown on that answer only), bad input answered next to the form
// with nothing stored, and removal.
//
// Run: bash tests/browser/run.sh   (or: cd tests/browser && node --test)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, createAccount, launchBrowser, signInAsOperator, submit } from './helpers.mjs';

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

test('operator: registers a RADIUS client, sees its secret once, bad input is refused, removes it', async () => {
  const number = await createAccount(server.dataDir, 'Radius Browser Customer');
  const context = await browser.newContext({ baseURL: server.baseURL });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  try {
    await signInAsOperator(page, server);
    const nav = page.getByRole('navigation', { name: 'Main' });
    await Promise.all([page.waitForNavigation(), nav.getByRole('link', { name: 'RADIUS' }).click()]);
    assert.equal(new URL(page.url()).pathname, '/radius-clients');
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'RADIUS Clients');
    assert.match(await page.locator('main').innerText(), /No RADIUS clients yet\./);

    // Bad input: the page says why, nothing is stored.
    await page.getByLabel('Name', { exact: true }).fill('office vpn');
    await page.getByLabel('Account number', { exact: true }).fill(number);
    await page.getByLabel('Source address or range', { exact: true }).fill('192.0.2.10');
    await submit(page, 'Register client');
    assert.match(await page.locator('main [role=alert]').innerText(), /letters, digits/);
    assert.match(await page.locator('main').innerText(), /No RADIUS clients yet\./);

    await page.getByLabel('Name', { exact: true }).fill('office-vpn');
    await page.getByLabel('Account number', { exact: true }).fill(number);
    await page.getByLabel('Source address or range', { exact: true }).fill('192.0.2.0/24');
    await page.getByLabel('Mode', { exact: true }).selectOption('code-only');
    await submit(page, 'Register client');
    const secret = (await page.locator('main code.secret').innerText()).trim();
    assert.equal(secret.length, 40);
    const row = page.getByRole('row').filter({ has: page.getByRole('cell', { name: 'office-vpn', exact: true }) });
    assert.match(await row.innerText(), /192\.0\.2\.0\/24\s+code-only\s+required/);

    // Shown once: a fresh load of the page has no secret.
    await page.goto('/radius-clients');
    assert.equal(await page.locator('main code.secret').count(), 0);
    assert.ok(!(await page.content()).includes(secret));

    await submit(page, 'Remove');
    assert.match(await page.locator('main [role=status]').innerText(), /removed/);
    assert.match(await page.locator('main').innerText(), /No RADIUS clients yet\./);
  } finally {
    await context.close();
  }
});

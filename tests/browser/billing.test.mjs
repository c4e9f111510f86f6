// Headless-Chromium tests of the Billing page: the operator closes a month
// from the page (keyboard only; a month that has not ended is refused next
// to the field), and an administrator reads their charges without
// JavaScript.
//
// Run: bash tests/browser/run.sh   (or: cd tests/browser && node --test)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer,
  createAccount,
  createUser,
  launchBrowser,
  signIn,
  signInAsOperator,
  fieldError,
} from './helpers.mjs';

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

async function newPage({ javaScriptEnabled = true } = {}) {
  const context = await browser.newContext({ baseURL: server.baseURL, javaScriptEnabled });
  context.setDefaultTimeout(10_000);
  context.setDefaultNavigationTimeout(15_000);
  return { context, page: await context.newPage() };
}

const thisMonth = new Date().toISOString().slice(0, 7);

test('operator: Billing from the navigation, a month that has not ended is refused, a past month closes once', async () => {
  const { context, page } = await newPage();
  try {
    await signInAsOperator(page, server);
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Billing' }).focus();
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    assert.equal(new URL(page.url()).pathname, '/billing');
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Billing');

    const period = page.getByLabel('Period (YYYY-MM)', { exact: true });
    await period.fill(thisMonth);
    await Promise.all([page.waitForNavigation(), period.press('Enter')]);
    assert.match(await fieldError(page, 'Period (YYYY-MM)').innerText(), /current month and has not ended yet/);
    assert.equal(await page.getByLabel('Period (YYYY-MM)', { exact: true }).getAttribute('aria-invalid'), 'true');
    assert.match(await page.locator('main').innerText(), /No period has been closed yet/);

    for (const expected of ['was closed', 'already closed']) {
      await page.getByLabel('Period (YYYY-MM)', { exact: true }).fill('2020-01');
      await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Run billing' }).click()]);
      assert.match(await page.locator('main [role=status]').innerText(), new RegExp(expected));
      assert.match(await page.locator('main').innerText(), /2020-01: 0 statement\(s\), total 0\.00/);
    }
  } finally {
    await context.close();
  }
});

test('administrator without JavaScript: current charges and statements of their own account', async () => {
  const account = await createAccount(server.dataDir, 'Billing Browser Customer');
  await createUser(server.dataDir, {
    account, username: 'bella', email: 'bella@example.test', role: 'admin', password: 'Correct-Horse-Battery-9',
  });
  const { context, page } = await newPage({ javaScriptEnabled: false });
  try {
    await signIn(page, 'bella', 'Correct-Horse-Battery-9');
    await Promise.all([
      page.waitForNavigation(),
      page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Billing' }).click(),
    ]);
    const main = await page.locator('main').innerText();
    assert.match(main, new RegExp(`Current charges, ${thisMonth} so far`));
    assert.match(main, /No charges\./);
    assert.match(main, /No statements yet/);
    assert.equal(await page.getByRole('button', { name: 'Run billing' }).count(), 0, 'no run button');
  } finally {
    await context.close();
  }
});

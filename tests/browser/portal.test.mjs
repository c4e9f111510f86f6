// Headless-Chromium tests of the Gatehouse portal's pages: sign-in, the
// forced password change, the Users screen and its Actions drop-down,
// lockout, account isolation and sign-out.
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
  submit,
  fieldError,
  userRow,
  rowCells,
} from './helpers.mjs';

const SIGN_IN_FAILED = 'The username or password is incorrect.';
const OTP_PATTERN = /^[A-Za-z0-9]{4}-[A-Za-z0-9]{4}-[A-Za-z0-9]{4}-[A-Za-z0-9]{4}$/;
const SCREENSHOT = process.env.USERS_SCREENSHOT || '/tmp/users-screen.png';

let server;
let browser;

before(async () => {
  // One after the other, so that `after` can clean up whichever started.
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A fresh browser profile (cookies) on the test server. */
async function newPage({ javaScriptEnabled = true } = {}) {
  const context = await browser.newContext({ baseURL: server.baseURL, javaScriptEnabled });
  context.setDefaultTimeout(10_000);
  context.setDefaultNavigationTimeout(15_000);
  const page = await context.newPage();
  return { context, page };
}

const pathOf = (page) => new URL(page.url()).pathname;
const heading = (page) => page.getByRole('heading', { level: 1 }).innerText();
const alertText = (page) => page.locator('main [role=alert]').first().innerText();

async function assertSignInRefused(page) {
  assert.equal(pathOf(page), '/login', 'stays on the sign-in page');
  assert.equal((await alertText(page)).trim(), SIGN_IN_FAILED);
}

/** Fills and submits the (forced or voluntary) password change form. */
async function changePassword(page, current, next, confirm = next, currentLabel = 'One-time password') {
  await page.getByLabel(currentLabel, { exact: true }).fill(current);
  await page.getByLabel('New password', { exact: true }).fill(next);
  await page.getByLabel('Confirm new password', { exact: true }).fill(confirm);
  await submit(page, 'Change password');
}

async function signOut(page) {
  await submit(page, 'Sign out');
}

/** Picks an entry of a user's Actions drop-down and presses Go (works without JS). */
async function chooseActionWithGo(page, username, label) {
  const select = page.getByLabel(`Actions for ${username}`, { exact: true });
  await select.selectOption({ label });
  await Promise.all([
    page.waitForNavigation(),
    userRow(page, username).getByRole('button', { name: 'Go' }).click(),
  ]);
}

/**
 * Picks an entry of a user's Actions drop-down with the pointer; app.js
 * navigates at once (a pointer press on the select precedes the choice, as
 * when a person clicks it open).
 */
async function chooseActionByJs(page, username, label) {
  const select = page.getByLabel(`Actions for ${username}`, { exact: true });
  await select.dispatchEvent('pointerdown');
  await Promise.all([page.waitForNavigation(), select.selectOption({ label })]);
}

/**
 * With the keyboard, arrow keys only move the choice (WCAG 3.2.2): the page
 * stays until the user moves to Go and presses Enter.
 */
async function chooseActionWithKeyboard(page, username, presses) {
  const select = page.getByLabel(`Actions for ${username}`, { exact: true });
  await select.focus();
  const before = page.url();
  for (let i = 0; i < presses; i++) await page.keyboard.press('ArrowDown');
  await page.waitForTimeout(300);
  assert.equal(page.url(), before, 'arrow keys must not navigate');
  await page.keyboard.press('Tab');
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
}

async function search(page, text) {
  await page.getByLabel('Search users', { exact: true }).fill(text);
  await submit(page, 'Search');
}

/** Usernames in the Users table, in order. */
async function listedUsernames(page) {
  const rows = page.locator('table.users tbody tr[data-username]');
  return rows.evaluateAll((trs) => trs.map((tr) => tr.querySelector('td').innerText.trim()));
}

// ---------------------------------------------------------------------------

test('operator: first sign-in with the printed one-time password forces a password change, then lands on Users', async () => {
  const { context, page } = await newPage();
  try {
    const { username, password: otp } = server.operator;
    assert.equal(username, 'operator');
    assert.match(otp, OTP_PATTERN);

    await signIn(page, username, otp);
    assert.equal(pathOf(page), '/password');
    assert.equal(await heading(page), 'Change password');
    assert.match(await page.locator('main').innerText(), /You signed in with a one-time password/);

    // The Users screen is out of reach until the password is changed.
    await page.goto('/users');
    assert.equal(pathOf(page), '/password');

    // A mismatched confirmation: the error is right by the confirmation field.
    await changePassword(page, otp, 'A-long-enough-passphrase-1', 'A-different-passphrase-2');
    assert.equal(pathOf(page), '/password');
    assert.equal((await fieldError(page, 'Confirm new password').innerText()).trim(), 'The two new passwords do not match.');
    assert.equal(await fieldError(page, 'New password').count(), 0);
    assert.equal(await page.getByLabel('Confirm new password', { exact: true }).getAttribute('aria-invalid'), 'true');

    // Too short: refused, error by the New password field.
    await changePassword(page, otp, 'short-pw-1');
    assert.equal(pathOf(page), '/password');
    assert.match(await fieldError(page, 'New password').innerText(), /at least 12 characters/);

    // A good one: straight to the Users screen.
    const newPassword = 'Operator-chooses-a-long-passphrase';
    await changePassword(page, otp, newPassword);
    assert.equal(pathOf(page), '/users');
    assert.equal(await heading(page), 'Users');
    assert.deepEqual(
      (await page.locator('table.users thead th').allInnerTexts()).map((s) => s.trim()),
      ['Username', 'Name', 'E-mail', 'Account', 'Role', 'Status', 'External Authentication', 'Actions'],
    );
    const cells = await rowCells(userRow(page, 'operator'));
    assert.equal(cells[4], 'Operator');
    assert.equal(cells[5], 'Active');
    assert.equal(cells[6], 'None');

    // The one-time password is spent; the new password signs in directly.
    await signOut(page);
    await signIn(page, username, otp);
    await assertSignInRefused(page);
    await signIn(page, username, newPassword);
    assert.equal(pathOf(page), '/users');
    server.operator.password = newPassword;
  } finally {
    await context.close();
  }
});

test('customer admin: Users screen, Add User with a generated one-time password, search, invalid e-mail', async () => {
  const account = await createAccount(server.dataDir, 'Acme Widgets');
  const adminPassword = 'Acme-admin-passphrase-42';
  await createUser(server.dataDir, { account, username: 'acme-admin', email: 'admin@acme.example', name: 'Ada Admin', role: 'admin', password: adminPassword });
  await createUser(server.dataDir, { account, username: 'bob.builder', email: 'bob@acme.example', name: 'Bob Builder', role: 'user', password: 'Bob-builds-long-things-7' });

  const { context, page } = await newPage();
  try {
    await signIn(page, 'acme-admin', adminPassword);
    assert.equal(pathOf(page), '/users');
    assert.equal(await heading(page), 'Users');
    assert.match(await page.locator('main').innerText(), /Account: Acme Widgets/);
    assert.deepEqual(
      (await page.locator('table.users thead th').allInnerTexts()).map((s) => s.trim()),
      ['Username', 'Name', 'E-mail', 'Role', 'Status', 'External Authentication', 'Actions'],
    );
    assert.deepEqual(await listedUsernames(page), ['acme-admin', 'bob.builder'].sort());
    // An admin sees only their own account's users (not the operator).
    assert.equal(await userRow(page, 'operator').count(), 0);

    // Actions drop-downs: the full set for another user, no self-disable/delete.
    const bobActions = page.getByLabel('Actions for bob.builder', { exact: true });
    assert.deepEqual(
      (await bobActions.locator('option').allInnerTexts()).map((s) => s.trim()),
      ['Actions', 'Edit User', 'Add External Authentication', 'Reset Password', 'Disable User', 'Delete User'],
    );
    assert.equal(await bobActions.inputValue(), '');
    assert.deepEqual(
      (await page.getByLabel('Actions for acme-admin', { exact: true }).locator('option').allInnerTexts()).map((s) => s.trim()),
      ['Actions', 'Edit User', 'Add External Authentication', 'Change Password'],
    );
    assert.equal(await userRow(page, 'bob.builder').getByRole('button', { name: 'Go' }).count(), 1);
    const bobCells = await rowCells(userRow(page, 'bob.builder'));
    assert.deepEqual(bobCells.slice(0, 6), ['bob.builder', 'Bob Builder', 'bob@acme.example', 'User', 'Active', 'None']);

    // Add User with a generated one-time password.
    await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: 'Add User' }).click()]);
    assert.equal(pathOf(page), '/users/new');
    assert.equal(await heading(page), 'Add User');
    assert.equal(await page.getByLabel('Require a new password at first sign-in').isChecked(), true);
    await page.getByLabel('Username', { exact: true }).fill('carol.new');
    await page.getByLabel('Name (optional)', { exact: true }).fill('Carol Newcomer');
    await page.getByLabel('E-mail', { exact: true }).fill('carol@acme.example');
    await page.getByLabel('Role', { exact: true }).selectOption({ label: 'User' });
    assert.equal(await page.getByLabel('Password (optional)', { exact: true }).inputValue(), '');
    await submit(page, 'Add User');
    assert.equal(await heading(page), 'User created');
    const otp = (await page.locator('code#one-time-password').innerText()).trim();
    assert.match(otp, OTP_PATTERN);
    assert.match(await page.locator('main').innerText(), /carol\.new/);

    await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: 'Back to Users' }).click()]);
    assert.equal(pathOf(page), '/users');
    assert.deepEqual(await listedUsernames(page), ['acme-admin', 'bob.builder', 'carol.new']);
    const carolCells = await rowCells(userRow(page, 'carol.new'));
    assert.deepEqual(carolCells.slice(0, 6), ['carol.new', 'Carol Newcomer', 'carol@acme.example', 'User', 'Active', 'None']);

    // The generated password really works, and forces a change.
    {
      const other = await newPage();
      try {
        await signIn(other.page, 'carol.new', otp);
        assert.equal(pathOf(other.page), '/password');
        assert.equal(await heading(other.page), 'Change password');
      } finally {
        await other.context.close();
      }
    }

    // Search finds the new user and hides the others.
    await search(page, 'carol');
    assert.equal(new URL(page.url()).searchParams.get('q'), 'carol');
    assert.deepEqual(await listedUsernames(page), ['carol.new']);
    assert.equal(await page.getByLabel('Search users', { exact: true }).inputValue(), 'carol');
    await search(page, 'Newcomer');
    assert.deepEqual(await listedUsernames(page), ['carol.new']);
    await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: 'Clear' }).click()]);
    assert.equal((await listedUsernames(page)).length, 3);

    // An invalid e-mail address: error by the E-mail field, nothing created.
    await page.goto('/users/new');
    await page.getByLabel('Username', { exact: true }).fill('dave.bad');
    await page.getByLabel('Name (optional)', { exact: true }).fill('Dave Badmail');
    await page.getByLabel('E-mail', { exact: true }).fill('not-an-email');
    await submit(page, 'Add User');
    assert.equal(pathOf(page), '/users/new');
    assert.equal(await heading(page), 'Add User');
    assert.equal((await fieldError(page, 'E-mail').innerText()).trim(), 'Enter an e-mail address such as name@example.com.');
    assert.equal(await fieldError(page, 'Username').count(), 0);
    // What was typed is kept.
    assert.equal(await page.getByLabel('Username', { exact: true }).inputValue(), 'dave.bad');
    assert.equal(await page.getByLabel('E-mail', { exact: true }).inputValue(), 'not-an-email');
    await page.goto('/users');
    assert.deepEqual(await listedUsernames(page), ['acme-admin', 'bob.builder', 'carol.new']);
    await search(page, 'dave');
    assert.deepEqual(await listedUsernames(page), []);
    assert.match(await page.locator('table.users tbody').innerText(), /No users match “dave”\./);
  } finally {
    await context.close();
  }
});

test('Actions drop-down: Edit User (Go and JS), Disable User, Reset Password and sign-in with the new one-time password', async () => {
  const account = await createAccount(server.dataDir, 'Globex Corporation');
  const adminPassword = 'Globex-admin-passphrase-9';
  await createUser(server.dataDir, { account, username: 'globex-admin', email: 'admin@globex.example', name: 'Gloria Admin', role: 'admin', password: adminPassword });
  await createUser(server.dataDir, { account, username: 'hank', email: 'hank@globex.example', name: 'Hank Scorpio', role: 'user', password: 'Hank-original-passphrase-1' });
  await createUser(server.dataDir, { account, username: 'frank', email: 'frank@globex.example', name: 'Frank Grimes', role: 'user', password: 'Frank-original-passphrase-1' });

  // Without JavaScript: select an action, then press Go.
  {
    const { context, page } = await newPage({ javaScriptEnabled: false });
    try {
      await signIn(page, 'globex-admin', adminPassword);
      assert.equal(pathOf(page), '/users');
      await chooseActionWithGo(page, 'hank', 'Edit User');
      assert.match(pathOf(page), /^\/users\/\d+\/edit$/);
      assert.match(await heading(page), /^Edit User\s+hank$/);
      assert.equal(await page.getByLabel('Name (optional)', { exact: true }).inputValue(), 'Hank Scorpio');
      await page.getByLabel('Name (optional)', { exact: true }).fill('Hank Scorpio Jr.');
      await submit(page, 'Save');
      assert.equal(pathOf(page), '/users');
      assert.equal((await page.locator('main [role=status]').innerText()).trim(), 'The user was updated.');
      assert.equal((await rowCells(userRow(page, 'hank')))[1], 'Hank Scorpio Jr.');

      // "Actions" itself (no choice) + Go goes nowhere harmful.
      await Promise.all([page.waitForNavigation(), userRow(page, 'hank').getByRole('button', { name: 'Go' }).click()]);
      assert.equal(pathOf(page), '/users');
    } finally {
      await context.close();
    }
  }

  // With JavaScript: choosing an entry navigates at once.
  const { context, page } = await newPage();
  try {
    await signIn(page, 'globex-admin', adminPassword);
    await chooseActionByJs(page, 'hank', 'Edit User');
    assert.match(pathOf(page), /^\/users\/\d+\/edit$/);
    assert.equal(await page.getByLabel('Name (optional)', { exact: true }).inputValue(), 'Hank Scorpio Jr.');
    await page.getByLabel('Name (optional)', { exact: true }).fill('Hank Scorpio III');
    await submit(page, 'Save');
    assert.equal(pathOf(page), '/users');
    assert.equal((await rowCells(userRow(page, 'hank')))[1], 'Hank Scorpio III');

    // Disable User -> confirm -> status Disabled.
    // Actions → Edit User → Add External Authentication → Reset Password →
    // Disable User: four presses.
    await chooseActionWithKeyboard(page, 'frank', 4);
    assert.match(pathOf(page), /^\/users\/\d+\/disable$/);
    assert.equal(await heading(page), 'Disable User');
    assert.match(await page.locator('main').innerText(), /Disable frank\?/);
    await submit(page, 'Disable User');
    assert.equal(pathOf(page), '/users');
    assert.equal((await page.locator('main [role=status]').innerText()).trim(), 'The user was disabled and signed out everywhere.');
    assert.equal((await rowCells(userRow(page, 'frank')))[4], 'Disabled');
    assert.deepEqual(
      (await page.getByLabel('Actions for frank', { exact: true }).locator('option').allInnerTexts()).map((s) => s.trim()),
      ['Actions', 'Edit User', 'Add External Authentication', 'Reset Password', 'Enable User', 'Delete User'],
    );
    assert.equal((await rowCells(userRow(page, 'hank')))[4], 'Active');

    // A disabled user cannot sign in (generic message).
    {
      const other = await newPage();
      try {
        await signIn(other.page, 'frank', 'Frank-original-passphrase-1');
        await assertSignInRefused(other.page);
      } finally {
        await other.context.close();
      }
    }

    // Reset Password -> confirm -> a one-time password is shown.
    await chooseActionByJs(page, 'hank', 'Reset Password');
    assert.match(pathOf(page), /^\/users\/\d+\/reset-password$/);
    assert.equal(await heading(page), 'Reset Password');
    await submit(page, 'Reset Password');
    assert.equal(await heading(page), 'Password reset');
    const otp = (await page.locator('code#one-time-password').innerText()).trim();
    assert.match(otp, OTP_PATTERN);

    // The Users screen as an administrator sees it, for review.
    await page.goto('/users');
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // Hank: the old password no longer works; the one-time one does, and
    // forces a new password, after which Hank lands on Security Settings.
    const hank = await newPage();
    try {
      await signIn(hank.page, 'hank', 'Hank-original-passphrase-1');
      await assertSignInRefused(hank.page);
      await signIn(hank.page, 'hank', otp);
      assert.equal(pathOf(hank.page), '/password');
      assert.equal(await heading(hank.page), 'Change password');
      await changePassword(hank.page, otp, 'Hank-chose-this-passphrase');
      assert.equal(pathOf(hank.page), '/security');
      assert.equal(await heading(hank.page), 'Security Settings');
      assert.match(await hank.page.locator('main').innerText(), /Hank Scorpio III/);
    } finally {
      await hank.context.close();
    }
  } finally {
    await context.close();
  }
});

test('lockout: after 10 wrong passwords even the right one gets the generic error', async () => {
  const account = await createAccount(server.dataDir, 'Initech');
  const password = 'Initech-user-passphrase-5';
  await createUser(server.dataDir, { account, username: 'peter', email: 'peter@initech.example', name: 'Peter Gibbons', role: 'user', password });

  const { context, page } = await newPage();
  try {
    // Nine failures do not lock; the right password still works (and resets the count).
    for (let i = 1; i <= 9; i++) {
      await signIn(page, 'peter', `wrong-password-${i}`);
      await assertSignInRefused(page);
    }
    await signIn(page, 'peter', password);
    assert.equal(pathOf(page), '/security');
    await signOut(page);
    assert.equal(pathOf(page), '/login');

    for (let i = 1; i <= 10; i++) {
      await signIn(page, 'peter', `wrong-password-${i}`);
      await assertSignInRefused(page);
    }
    await signIn(page, 'peter', password);
    await assertSignInRefused(page);
    // Same wording as for an unknown user: the lock is not revealed.
    await signIn(page, 'nobody-by-this-name', password);
    await assertSignInRefused(page);
  } finally {
    await context.close();
  }
});

test('account isolation: an admin of account B cannot find or open a user of account A', async () => {
  const accountA = await createAccount(server.dataDir, 'Alpha Holdings');
  const accountB = await createAccount(server.dataDir, 'Beta Industries');
  const aliceId = await createUser(server.dataDir, { account: accountA, username: 'alice.alpha', email: 'alice@alpha.example', name: 'Alice Alpha', role: 'user', password: 'Alice-alpha-passphrase-1' });
  const adminB = 'Beta-admin-passphrase-33';
  await createUser(server.dataDir, { account: accountB, username: 'beta-admin', email: 'admin@beta.example', name: 'Bea Admin', role: 'admin', password: adminB });
  await createUser(server.dataDir, { account: accountB, username: 'alice.beta', email: 'alice@beta.example', name: 'Alice Beta', role: 'user', password: 'Alice-beta-passphrase-2' });

  const { context, page } = await newPage();
  try {
    await signIn(page, 'beta-admin', adminB);
    assert.equal(pathOf(page), '/users');
    assert.deepEqual(await listedUsernames(page), ['alice.beta', 'beta-admin']);

    await search(page, 'alice.alpha');
    assert.deepEqual(await listedUsernames(page), []);
    assert.match(await page.locator('table.users tbody').innerText(), /No users match “alice\.alpha”\./);
    await search(page, 'alpha.example');
    assert.deepEqual(await listedUsernames(page), []);
    // The same search term finds B's own user and only that one.
    await search(page, 'alice');
    assert.deepEqual(await listedUsernames(page), ['alice.beta']);

    for (const action of ['edit', 'reset-password', 'disable', 'delete']) {
      const res = await page.goto(`/users/${aliceId}/${action}`);
      assert.equal(res.status(), 404, `/users/${aliceId}/${action} must be 404 for another account's admin`);
      assert.equal(await heading(page), 'Not found');
      assert.doesNotMatch(await page.content(), /alice\.alpha|alice@alpha\.example|Alice Alpha/);
    }
    // Through the Actions dispatcher too.
    const res = await page.goto(`/users/${aliceId}/action?action=edit`);
    assert.equal(res.status(), 404);
    assert.equal(await heading(page), 'Not found');
  } finally {
    await context.close();
  }

  // The user of A is untouched and still visible to the operator.
  const op = await newPage();
  try {
    await signIn(op.page, server.operator.username, server.operator.password);
    assert.equal(pathOf(op.page), '/users', 'operator signs in with the password chosen in the first test');
    await search(op.page, 'alice.alpha');
    assert.deepEqual(await listedUsernames(op.page), ['alice.alpha']);
    assert.equal((await rowCells(userRow(op.page, 'alice.alpha')))[3], 'Alpha Holdings');
  } finally {
    await op.context.close();
  }
});

test('sign out returns to the sign-in page and ends the session', async () => {
  const account = await createAccount(server.dataDir, 'Umbrella Co');
  const password = 'Umbrella-admin-passphrase-8';
  await createUser(server.dataDir, { account, username: 'umbrella-admin', email: 'admin@umbrella.example', name: 'Uma Admin', role: 'admin', password });

  const { context, page } = await newPage();
  try {
    await signIn(page, 'umbrella-admin', password);
    assert.equal(pathOf(page), '/users');
    assert.match(await page.locator('header').innerText(), /umbrella-admin · Umbrella Co/);

    await signOut(page);
    assert.equal(pathOf(page), '/login');
    assert.equal(await heading(page), 'Sign in');
    assert.equal((await page.locator('main [role=status]').innerText()).trim(), 'You have signed out.');
    assert.equal(await page.getByRole('button', { name: 'Sign out' }).count(), 0);

    // The old session is gone: the Users screen asks for a sign-in again.
    await page.goto('/users');
    assert.equal(pathOf(page), '/login');
    assert.equal(new URL(page.url()).searchParams.get('next'), '/users');
    assert.equal(await page.locator('main [role=status]').count(), 0);
  } finally {
    await context.close();
  }
});

test('Security Settings → Where you are signed in: a user ends the session of another browser, then every other one', async () => {
  const account = await createAccount(server.dataDir, 'Vanguard Ltd');
  const password = 'Vanguard-user-passphrase-3';
  await createUser(server.dataDir, { account, username: 'vera', email: 'vera@vanguard.example', name: 'Vera User', role: 'user', password });

  const laptop = await newPage();
  const tablet = await newPage();
  const phone = await newPage();
  try {
    for (const { page } of [tablet, phone, laptop]) {
      await signIn(page, 'vera', password);
      assert.equal(pathOf(page), '/security');
    }
    const card = laptop.page.locator('section.card', { has: laptop.page.getByRole('heading', { name: 'Where you are signed in' }) });
    const rows = card.locator('tbody tr');
    assert.equal(await rows.count(), 3);
    assert.equal(await card.getByText('This session').count(), 1);
    assert.equal(await card.getByRole('button', { name: 'End session' }).count(), 2);

    // The password first (the form asks for it), then end one of the other
    // two; exactly one other browser is then signed out.
    await card.getByLabel('Your password, to end sessions', { exact: true }).fill('not-my-password');
    await Promise.all([
      laptop.page.waitForNavigation(),
      card.getByRole('button', { name: 'End session' }).first().click(),
    ]);
    assert.equal((await card.locator('[role=alert]').innerText()).trim(), 'The password is not right.');
    assert.equal(await rows.count(), 3, 'nothing ended');
    await card.getByLabel('Your password, to end sessions', { exact: true }).fill(password);
    await Promise.all([
      laptop.page.waitForNavigation(),
      card.getByRole('button', { name: 'End session' }).first().click(),
    ]);
    assert.equal(pathOf(laptop.page), '/security');
    assert.match(await laptop.page.locator('main [role=status]').innerText(), /That session is ended/);
    const stillIn = [];
    for (const { page } of [tablet, phone]) {
      await page.goto('/security');
      stillIn.push(pathOf(page) === '/security');
    }
    assert.deepEqual(stillIn.filter(Boolean).length, 1, 'exactly one of the other browsers was signed out');

    await card.getByLabel('Your password, to end sessions', { exact: true }).fill(password);
    await submit(laptop.page, 'End every other session');
    assert.match(await laptop.page.locator('main [role=status]').innerText(), /Every other session is ended/);
    assert.equal(await card.getByRole('button', { name: 'End session' }).count(), 0);
    for (const { page } of [tablet, phone]) {
      await page.goto('/security');
      assert.equal(pathOf(page), '/login');
    }
    await laptop.page.goto('/security');
    assert.equal(pathOf(laptop.page), '/security', 'this browser stays signed in');
  } finally {
    await laptop.context.close();
    await tablet.context.close();
    await phone.context.close();
  }
});

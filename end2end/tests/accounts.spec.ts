// Accounts, roles and share links, in both projects (hydrated and JS off).
import { test, expect, Browser } from '@playwright/test';
import { credentials, signIn } from './util';

const signedOut = { storageState: { cookies: [], origins: [] } };

async function freshPage(browser: Browser, javaScriptEnabled: boolean) {
  const context = await browser.newContext({ ...signedOut, javaScriptEnabled });
  return context.newPage();
}

test.describe('signed out', () => {
  test.use(signedOut);

  test('pages send you to sign in and back where you were going', async ({ page }) => {
    await page.goto('/checklist');
    await expect(page).toHaveURL(/\/login\?next=%2Fchecklist|\/login\?next=\/checklist/);
    await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
    const { user, password } = credentials('staff');
    await page.getByLabel('User name').fill(user);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page).toHaveURL(/\/checklist$/);
    await expect(page.getByRole('heading', { level: 1, name: 'Migrations' })).toBeVisible();
    await expect(page.locator('.user-menu .user-name')).toHaveText(user);
  });

  test('a wrong password says so without saying which field was wrong', async ({ page }) => {
    await page.goto('/login');
    await page.getByLabel('User name').fill(credentials('staff').user);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert')).toHaveText('The user name or password is not right.');
    await expect(page.getByLabel('User name')).toHaveValue(credentials('staff').user);
    await page.screenshot({ path: `screenshots/${test.info().project.name}/login-error.png` });
  });
});

test('staff see staff actions but not the admin page', async ({ page }) => {
  await page.goto('/');
  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(nav.getByRole('link', { name: 'Share links' })).toBeVisible();
  await expect(nav.getByRole('link', { name: 'Admin' })).toHaveCount(0);
  const response = await page.goto('/admin');
  expect(response?.status()).toBe(403);
  await expect(page.getByText('You do not have permission')).toBeVisible();
});

test('a viewer sees no edit controls and gets 403 when forcing one', async ({ browser }, info) => {
  const page = await freshPage(browser, info.project.use.javaScriptEnabled !== false);
  await signIn(page, 'viewer');
  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(nav.getByRole('link', { name: 'Checklist' })).toBeVisible();
  await expect(nav.getByRole('link', { name: 'Share links' })).toHaveCount(0);
  await expect(nav.getByRole('link', { name: 'Admin' })).toHaveCount(0);
  await expect(page.locator('.role-badge')).toHaveText('viewer');
  for (const path of ['/shares', '/admin']) {
    const response = await page.goto(path);
    expect(response?.status(), path).toBe(403);
    await expect(page.getByText('You do not have permission').first()).toBeVisible();
  }
  // A forced write is refused by the server too.
  const api = await page.request.post('/api/shares/create', {
    form: { selection: 'uk', label: 'sneaky' },
    headers: { origin: new URL(page.url()).origin },
  });
  expect(api.status()).toBe(403);
  await page.context().close();
});

test('an admin manages users and reads the audit log', async ({ browser }, info) => {
  const page = await freshPage(browser, info.project.use.javaScriptEnabled !== false);
  await signIn(page, 'admin', '/admin');
  await expect(page.getByRole('heading', { level: 1, name: 'Admin' })).toBeVisible();
  const users = page.locator('section', { has: page.getByRole('heading', { name: /^Users/ }) });
  for (const who of ['admin', 'staff', 'viewer'] as const) {
    await expect(users.locator('strong', { hasText: credentials(who).user })).toBeVisible();
  }
  await expect(page.getByRole('heading', { name: 'Audit log' })).toBeVisible();
  await expect(page.locator('table.audit code', { hasText: 'auth.login' }).first()).toBeVisible();
  await page.screenshot({ path: `screenshots/${info.project.name}/admin.png`, fullPage: true });
  await page.context().close();
});

test('sign-out ends the session', async ({ browser }, info) => {
  const page = await freshPage(browser, info.project.use.javaScriptEnabled !== false);
  await signIn(page, 'viewer');
  await page.locator('.user-menu summary').click();
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect(page.getByText('You have signed out.')).toBeVisible();
  await page.goto('/map');
  await expect(page).toHaveURL(/\/login/);
  await page.context().close();
});

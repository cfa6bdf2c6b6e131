// Share links: made by staff, opened by anyone holding them, revoked for good.
import { test, expect } from '@playwright/test';

test.skip(({ javaScriptEnabled }) => !javaScriptEnabled, 'the link is shown once, by the hydrated page');

test('a share link opens the map without an account, and not after it is revoked', async ({ page, browser }) => {
  await page.goto('/shares?sel=county:bedfordshire');
  await expect(page.locator('html[data-hydrated="true"]')).toHaveCount(1);
  const label = `Reach for client ${Date.now()}`;
  await page.getByLabel('Label').fill(label);
  await expect(page.getByLabel('Map selection')).toHaveValue('county:bedfordshire');
  await page.getByRole('button', { name: 'Create link' }).click();
  const link = page.locator('a.share-url');
  await expect(link).toBeVisible();
  const path = await link.getAttribute('href');
  expect(path).toMatch(/^\/share\/[A-Za-z0-9_-]{43}$/);
  await page.screenshot({ path: 'screenshots/hydrated/shares.png', fullPage: true });

  // A stranger: fresh context, no cookies.
  const stranger = await browser.newContext({ storageState: { cookies: [], origins: [] } });
  const view = await stranger.newPage();
  const response = await view.goto(path!);
  expect(response?.status()).toBe(200);
  await expect(view.getByRole('heading', { level: 1, name: label })).toBeVisible();
  const map = view.locator('#map');
  await expect(map).toHaveAttribute('data-layers', 'base');
  await expect(view.getByRole('navigation', { name: 'Main' })).toHaveCount(0);
  // The shared selection's outlets are drawn for someone without an account...
  await expect(map).toHaveAttribute('data-state', 'done', { timeout: 20_000 });
  expect(Number(await map.getAttribute('data-outlets'))).toBeGreaterThan(0);
  // ...and the link opens that selection's data and nothing else.
  const token = path!.split('/').pop();
  const other = await view.request.get(`/api/features/index.json?sel=area:london&share=${token}`);
  expect(other.status()).toBe(403);
  const same = await view.request.get(`/api/features/index.json?sel=county:bedfordshire&share=${token}`);
  expect(same.status()).toBe(200);
  await view.screenshot({ path: 'screenshots/hydrated/shared-map.png' });

  // Revoke it.
  const row = page.locator('tr', { hasText: label });
  await row.getByRole('button', { name: 'Revoke' }).click();
  await expect(row.locator('.state')).toHaveText('revoked');
  const gone = await view.goto(path!);
  expect(gone?.status()).toBe(410);
  await expect(view.getByText('This share link was revoked on')).toBeVisible();
  await stranger.close();
});

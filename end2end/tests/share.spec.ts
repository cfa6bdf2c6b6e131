// Share links: made by staff, opened by anyone holding them, revoked for good.
import { test, expect } from '@playwright/test';

test.skip(({ javaScriptEnabled }) => !javaScriptEnabled, 'the link is shown once, by the hydrated page');

test('a share link opens the map without an account, and not after it is revoked', async ({ page, browser }) => {
  await page.goto('/shares');
  await expect(page.locator('html[data-hydrated="true"]')).toHaveCount(1);
  const label = `Reach for client ${Date.now()}`;
  await page.getByLabel('Label').fill(label);
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
  await expect(view.locator('#map')).toHaveAttribute('data-layers', 'land');
  await expect(view.getByRole('navigation', { name: 'Main' })).toHaveCount(0);
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

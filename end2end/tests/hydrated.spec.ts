// With JavaScript: the WebAssembly app hydrates, routes on the client and
// drives Leaflet.
import { test, expect } from '@playwright/test';

test.skip(({ javaScriptEnabled }) => !javaScriptEnabled, 'needs JavaScript');

test('navigation after hydration changes the page without a full reload', async ({ page }) => {
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));

  await page.goto('/');
  await expect(page.locator('html[data-hydrated="true"]')).toHaveCount(1);
  // A marker on window survives client-side routing but not a page load.
  await page.evaluate(() => { (window as any).__switchboardMarker = 'still here'; });
  let documentRequests = 0;
  page.on('request', (r) => { if (r.resourceType() === 'document') documentRequests++; });

  const nav = page.getByRole('navigation', { name: 'Main' });
  await nav.getByRole('link', { name: 'Checklist' }).click();
  await expect(page).toHaveURL(/\/checklist$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Migrations' })).toBeVisible();
  await page.getByRole('link', { name: 'The checklist template' }).click();
  await expect(page.locator('section.checklist-section')).toHaveCount(14);
  await expect(nav.getByRole('link', { name: 'Checklist' })).toHaveAttribute('aria-current', 'page');

  await nav.getByRole('link', { name: 'Health' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Infrastructure health' })).toBeVisible();
  await expect(page).toHaveTitle('Health · Switchboard');

  expect(await page.evaluate(() => (window as any).__switchboardMarker)).toBe('still here');
  expect(documentRequests).toBe(0);
  expect(errors).toEqual([]);
});

test('the map is real Leaflet over the UK with a scale and the offline basemap', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/map');
  const map = page.locator('#map');
  await expect(map).toHaveClass(/leaflet-container/);
  await expect(map.locator('.leaflet-control-scale')).toBeVisible();
  await expect(map.locator('.leaflet-control-zoom-in')).toBeVisible();
  await expect(map).toHaveAttribute('data-layers', 'base');
  // The offline basemap: the server's own PNG tiles.
  const base = map.locator('.basemap img.leaflet-tile-loaded');
  await expect(base.first()).toBeVisible();
  expect(await base.first().getAttribute('src')).toMatch(/^\/tiles\/base\/\d+\/\d+\/\d+(@2x)?\.png$/);
  // Keyboard: the map takes focus and zooms with "+".
  const scaleBefore = await map.locator('.leaflet-control-scale-line').first().textContent();
  await map.focus();
  await page.keyboard.press('+');
  await expect
    .poll(async () => map.locator('.leaflet-control-scale-line').first().textContent())
    .not.toBe(scaleBefore);
  expect(errors).toEqual([]);
  await page.screenshot({ path: 'screenshots/hydrated/map-leaflet.png' });
});

test('leaving the map page and coming back makes one fresh map', async ({ page }) => {
  await page.goto('/map');
  await expect(page.locator('#map')).toHaveAttribute('data-layers', 'base');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Firewall' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Firewall' })).toBeVisible();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Map' }).click();
  await expect(page.locator('#map')).toHaveAttribute('data-layers', 'base');
  await expect(page.locator('.leaflet-control-scale')).toHaveCount(1);
});

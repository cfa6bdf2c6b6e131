// With JavaScript off: the server-rendered pages must still read.
import { test, expect } from '@playwright/test';

test.skip(({ javaScriptEnabled }) => javaScriptEnabled, 'only without JavaScript');

test('the map page shows a drawing of the outline instead of Leaflet', async ({ page }) => {
  await page.goto('/map');
  const img = page.getByRole('img', { name: 'Outline of the United Kingdom and Ireland' });
  await expect(img).toBeVisible();
  const box = await img.boundingBox();
  expect(box?.height ?? 0).toBeGreaterThan(300); // the SVG really loaded
  await expect(page.locator('#map.leaflet-container')).toHaveCount(0);
});

test('links are plain navigation that works without JavaScript', async ({ page }) => {
  await page.goto('/');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Checklist' }).click();
  await expect(page).toHaveURL(/\/checklist$/);
  await page.getByRole('link', { name: 'The checklist template' }).click();
  await expect(page).toHaveURL(/\/checklist\/template$/);
  await expect(page.locator('section.checklist-section')).toHaveCount(14);
  await page.getByRole('link', { name: /^DNS/ }).click();
  await expect(page).toHaveURL(/#dns$/);
});

// Every page renders from the server, in both projects (hydrated and JS off).
import { test, expect, Page } from '@playwright/test';

const PAGES = [
  { path: '/', heading: 'Overview', title: 'Switchboard' },
  { path: '/map', heading: 'United Kingdom', title: 'Reach map · Switchboard' },
  { path: '/health', heading: 'Infrastructure health', title: 'Health · Switchboard' },
  { path: '/firewall', heading: 'Firewall', title: 'Firewall · Switchboard' },
  { path: '/checklist', heading: 'Migrations', title: 'Migrations · Switchboard' },
  { path: '/checklist/template', heading: 'Migration checklist template', title: 'Checklist template · Switchboard' },
];

const SECTIONS = [
  'Planning', 'Services', 'SSL', 'Email', 'DNS', 'Permissions', 'Cache', 'Networking',
  'Security', 'Optimizations', 'Load balancing', 'Monitoring', 'Database', 'Other',
];

async function shot(page: Page, name: string) {
  const project = test.info().project.name;
  await page.screenshot({ path: `screenshots/${project}/${name}.png`, fullPage: true });
}

for (const p of PAGES) {
  test(`${p.path} renders with its heading, title and navigation`, async ({ page }) => {
    const response = await page.goto(p.path);
    expect(response?.status()).toBe(200);
    await expect(page.getByRole('heading', { level: 1, name: p.heading })).toBeVisible();
    await expect(page).toHaveTitle(p.title);
    const nav = page.getByRole('navigation', { name: 'Main' });
    for (const link of ['Map', 'Health', 'Firewall', 'Checklist']) {
      await expect(nav.getByRole('link', { name: link })).toBeVisible();
    }
    await shot(page, p.path === '/' ? 'home' : p.path.slice(1).replace('/', '-'));
  });
}

test('the checklist shows every section of the template with its points', async ({ page }) => {
  await page.goto('/checklist/template');
  const sections = page.locator('section.checklist-section h2');
  await expect(sections).toHaveText(SECTIONS);
  await expect(page.locator('.checklist-item')).toHaveCount(40);
  await expect(page.getByText('40 points in 14 sections')).toBeVisible();
  await expect(
    page.locator('#dns').getByText('Lower the TTL of each domain', { exact: false }),
  ).toBeVisible();
});

test('an unknown URL shows the 404 page with status 404', async ({ page }) => {
  const response = await page.goto('/no/such/page');
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { level: 1, name: 'Page not found' })).toBeVisible();
  await expect(page.getByText('/no/such/page')).toBeVisible();
  await expect(page).toHaveTitle('Page not found · Switchboard');
  await shot(page, 'not-found');
});

test('the pages fit a phone screen without sideways scrolling', async ({ page }) => {
  await page.setViewportSize({ width: 375, height: 740 });
  for (const p of PAGES) {
    await page.goto(p.path);
    const overflow = await page.locator('body').evaluate(
      (b) => b.scrollWidth - b.clientWidth,
    ).catch(() => null);
    // With JavaScript off evaluate() is unavailable; the header must still be visible.
    if (overflow !== null) expect(overflow, `${p.path} overflows`).toBeLessThanOrEqual(0);
    await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  }
  await shot(page, 'phone-checklist');
});

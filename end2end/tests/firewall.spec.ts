// Firewall: the server under test syncs against a real moto (five instances in
// two regions, a third region that never answers) and plans iptables rules for
// a network namespace of its own (cargo xtask test sets this up).
import { test, expect, Page } from '@playwright/test';
import { signIn } from './util';

/** Reloads until the first sync has stored its inventory. */
async function firstInventory(page: Page) {
  await page.goto('/firewall');
  await expect(async () => {
    await page.reload();
    await expect(page.locator('dl.figures')).toContainText('2 of 3', { timeout: 1_000 });
  }).toPass({ timeout: 45_000 });
}

test('the page shows instances per region and the region that could not be read', async ({ page }, info) => {
  await firstInventory(page);
  await expect(page.getByRole('heading', { level: 1, name: 'Firewall' })).toBeVisible();
  const alert = page.locator('section[role="alert"]', { hasText: 'Regions that could not be read' });
  await expect(alert).toContainText('ap-south-1');
  await expect(alert).toContainText(/timed out|could not connect/);
  const instances = page.locator('section', { has: page.getByRole('heading', { name: 'Instances per region' }) });
  await expect(instances.locator('.bar-row')).toHaveCount(3);
  await expect(instances.getByText('us-east-1: 3 instances')).toBeVisible();
  await expect(instances.getByText('eu-west-1: 2 instances')).toBeVisible();
  // Times by IANA zone name, never an abbreviation.
  await expect(page.locator('.page-head')).toContainText('times in UTC');
  await expect(page.locator('table').last()).toContainText('UTC (UTC+00:00)');
  await page.screenshot({ path: `screenshots/${info.project.name}/firewall.png`, fullPage: true });
});

test('staff read the plan; an admin confirms and applies it, and the audit says so', async ({ page, browser }, info) => {
  test.skip(!info.project.use.javaScriptEnabled, 'applying is checked once, with JavaScript');
  await firstInventory(page);
  const plan = page.locator('section', { has: page.getByRole('heading', { name: 'Pending plan' }) });
  const pending = await plan.locator('pre.diff').count();
  if (pending > 0) {
    await expect(plan.locator('.diff-add', { hasText: 'EC2 - ' }).first()).toBeVisible();
    await expect(plan.locator('.diff-add', { hasText: 'staff' })).toHaveCount(1);
    await expect(plan).toContainText('Applying needs the admin role.');
  }

  const context = await browser.newContext();
  const admin = await context.newPage();
  await signIn(admin, 'admin', '/firewall');
  await firstInventory(admin);
  const adminPlan = admin.locator('section', { has: admin.getByRole('heading', { name: 'Pending plan' }) });
  await expect(admin.locator('html[data-hydrated="true"]')).toHaveCount(1);
  if (await adminPlan.locator('pre.diff').count() > 0) {
    await adminPlan.getByLabel('I have read the plan').check();
    await adminPlan.getByRole('button', { name: /Apply \d+ changes/ }).click();
    await expect(adminPlan.getByRole('status')).toContainText('Applied: applied: 26 added, 0 removed');
  }
  await expect(async () => {
    await admin.reload();
    await expect(adminPlan).toContainText('Nothing to change', { timeout: 1_000 });
  }).toPass({ timeout: 20_000 });
  const audit = admin.locator('section', { has: admin.getByRole('heading', { name: 'Applies (audit)' }) });
  await expect(audit.locator('li').first()).toContainText('ok');
  await expect(audit.locator('li').first()).toContainText('+26 −0');
  await context.close();

  // Staff start a sync by hand; the page says so (or who runs one since when).
  await page.reload();
  await expect(page.locator('html[data-hydrated="true"]')).toHaveCount(1);
  await page.getByRole('button', { name: 'Sync now' }).click();
  await expect(page.getByRole('status').or(page.getByRole('alert').filter({ hasText: 'already running' })).first())
    .toContainText(/Sync \d+ started|already running/);
});

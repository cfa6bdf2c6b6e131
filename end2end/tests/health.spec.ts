// Health: sites, pools and backends; a backend stopped behind the page's back
// turns DOWN live, without a reload.
import { test, expect } from '@playwright/test';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';

test.skip(({ javaScriptEnabled }) => !javaScriptEnabled, 'live updates need JavaScript');

test('a stopped backend turns DOWN on the open page without a reload', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // A real backend on loopback, which the test stops later.
  const backend = http.createServer((_req, res) => { res.writeHead(200); res.end('ok'); });
  await new Promise<void>((done) => backend.listen(0, '127.0.0.1', done));
  const port = (backend.address() as AddressInfo).port;
  const name = `node-${port}`;

  await page.goto('/health');
  await expect(page.getByRole('heading', { level: 1, name: 'Infrastructure health' })).toBeVisible();
  await expect(page.locator('html[data-hydrated="true"]')).toHaveCount(1);
  // The server checks itself out of the box: a site, a pool, one backend UP.
  await expect(page.locator('.site-card').first()).toContainText('This machine');
  await expect(page.locator('tr[data-pool="switchboard"]')).toBeVisible();
  await expect(page.locator('table.targets tr[data-state="up"]').first()).toBeVisible({ timeout: 15_000 });

  // Add the backend with short HAProxy timings.
  const form = page.locator('section', { has: page.getByRole('heading', { name: 'Add a backend' }) });
  await form.getByLabel('Name').fill(name);
  await form.getByLabel('Address (host:port)').fill(`127.0.0.1:${port}`);
  await form.getByLabel('Path').fill('/');
  await form.getByLabel('inter (ms)').fill('300');
  await form.getByLabel('fall').fill('2');
  await form.getByLabel('rise').fill('1');
  await form.getByRole('button', { name: 'Add' }).click();
  const row = page.locator('table.targets tr', { hasText: name });
  await expect(row).toHaveAttribute('data-state', 'up', { timeout: 15_000 });
  await expect(row).toContainText('HTTP 200');

  // Stop it: the row turns DOWN by itself.
  let documents = 0;
  page.on('request', (r) => { if (r.resourceType() === 'document') documents++; });
  await new Promise<void>((done) => backend.close(() => done()));
  backend.closeAllConnections?.();
  await expect(row).toHaveAttribute('data-state', 'down', { timeout: 15_000 });
  await expect(row).toContainText(/refused/);
  // The pool and the timeline follow, still without a reload.
  await expect(page.locator('tr[data-pool="switchboard"]')).toContainText('DEGRADED');
  await expect(page.locator('.timeline')).toContainText(name);
  expect(documents).toBe(0);
  await page.screenshot({ path: 'screenshots/hydrated/health-live.png', fullPage: true });

  // Remove the backend again.
  await page.locator('table.targets tr', { hasText: name }).getByRole('button', { name: 'Remove' }).click();
  await expect(page.locator('table.targets tr', { hasText: name })).toHaveCount(0);
  expect(errors).toEqual([]);
});

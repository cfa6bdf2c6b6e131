// Migrations: create one, tick points, watch progress (live on a second page),
// run the automated checks against this very server, share it and read the
// share with JavaScript off.
import { test, expect, Page } from '@playwright/test';
import { STAFF_STATE } from '../playwright.config';

test.skip(({ javaScriptEnabled }) => !javaScriptEnabled, 'the flow starts on the hydrated page');

function progress(page: Page) {
  return page.locator('.page-head .progress-words');
}

test('a migration is planned, ticked, checked and shared', async ({ page, browser, baseURL }) => {
  // Planning, ticking, running every automated check and reading the share link
  // take 20-30 s on a loaded machine: more than the default 30 s budget leaves.
  test.setTimeout(90_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const port = new URL(baseURL!).port;
  const name = `Shop move ${Date.now()}`;

  await page.goto('/checklist');
  await expect(page.locator('html[data-hydrated="true"]')).toHaveCount(1);
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Owner').fill('Alice');
  await page.getByLabel('Domains, sub-domains and CDN names').fill('shop.example.test, www.shop.example.test');
  await page.getByLabel('Source server').fill('old-web1.example.test');
  await page.getByLabel('Target server').fill('127.0.0.1');
  // The server under test is the target: its port answers, HTTP answers per Host.
  await page.getByLabel('Services (name or name:port)').fill(`http:${port}`);
  await page.getByLabel('Window starts').fill('2026-12-05T22:00');
  // Bad input first: a window that ends before it starts.
  await page.getByLabel('Window ends').fill('2026-12-05T21:00');
  await page.getByLabel('Time zone of the window').fill('Europe/London');
  await page.getByRole('button', { name: 'Create the migration' }).click();
  await expect(page.getByRole('alert')).toContainText('before it starts');
  await expect(page).toHaveURL(/\/checklist$/);
  await page.getByLabel('Window ends').fill('2026-12-06T02:00');
  await page.getByRole('button', { name: 'Create the migration' }).click();
  await expect(page).toHaveURL(/\/checklist\/\d+$/);
  await expect(page.getByRole('heading', { level: 1, name })).toBeVisible();
  await expect(progress(page)).toHaveText('0 of 40 settled (0%)');
  const url = page.url();

  // A colleague has the same checklist open.
  const colleague = await page.context().newPage();
  await colleague.goto(url);
  await expect(colleague.locator('html[data-hydrated="true"]')).toHaveCount(1);
  await expect(progress(colleague)).toHaveText('0 of 40 settled (0%)');

  // Tick the first point with a note; block the second.
  const first = page.locator('li.checklist-item').first();
  await first.getByLabel('Note').fill('agreed with the client');
  await first.getByRole('button', { name: 'Done' }).click();
  await expect(first).toHaveAttribute('data-state', 'done');
  await expect(progress(page)).toHaveText('1 of 40 settled (2%)');
  const second = page.locator('li.checklist-item').nth(1);
  await second.getByRole('button', { name: 'Blocked' }).click();
  await expect(page.getByRole('alert')).toContainText(/say in the note what blocks/i);
  await second.getByLabel('Note').fill('waiting for the hosting contract');
  await second.getByRole('button', { name: 'Blocked' }).click();
  await expect(second).toHaveAttribute('data-state', 'blocked');
  await expect(progress(page)).toHaveText('1 of 40 settled (2%), 1 blocked');
  // The colleague's page followed without a reload.
  await expect(progress(colleague)).toHaveText('1 of 40 settled (2%), 1 blocked');
  await expect(colleague.locator('li.checklist-item').first()).toHaveAttribute('data-state', 'done');

  // A note being typed survives a colleague's tick arriving live.
  const third = page.locator('li.checklist-item').nth(2);
  await third.getByLabel('Note').fill('half-typed');
  await colleague.locator('li.checklist-item').nth(3).getByRole('button', { name: 'Not applicable' }).click();
  await expect(progress(page)).toHaveText('2 of 40 settled (5%), 1 blocked');
  await expect(page.locator('li.checklist-item').nth(3)).toHaveAttribute('data-state', 'not_applicable');
  await expect(page.locator('li.checklist-item').nth(2).getByLabel('Note')).toHaveValue('half-typed');

  // Only open points.
  await page.getByRole('link', { name: 'Show only open points' }).click();
  await expect(page.locator('li.checklist-item')).toHaveCount(38);
  await page.getByRole('link', { name: 'Show every point' }).click();
  await expect(page.locator('li.checklist-item')).toHaveCount(40);

  // Run every check against this server.
  await page.getByRole('button', { name: 'Run every check' }).click();
  const ports = page.locator('#check-service_ports');
  await expect(ports.locator('.verdict').first()).toHaveText('Pass', { timeout: 20_000 });
  await expect(ports).toContainText(`http 127.0.0.1:${port}`);
  const http = page.locator('#check-http_host');
  await expect(http.locator('.verdict').first()).toHaveText('Pass');
  await http.getByText(/Evidence/).click();
  await expect(http.locator('table.evidence')).toContainText('shop.example.test');
  // Nothing serves HTTPS here: the certificate check fails and says why.
  const tls = page.locator('#check-tls_certificate');
  await expect(tls.locator('.verdict').first()).toHaveText('Fail');
  // Every check has a verdict and a sentence, whatever the DNS of this machine.
  await expect(page.locator('#check-dns_ttl .verdict').first()).toHaveText(/Pass|Warning|Fail|Could not run/);
  await page.screenshot({ path: 'screenshots/hydrated/migration.png', fullPage: true });

  // Share it read-only, and read it with JavaScript off and no account.
  await page.getByLabel('Label').fill('For the client');
  await page.getByRole('button', { name: 'Create link' }).click();
  const link = page.locator('a.share-url');
  await expect(link).toBeVisible();
  const path = await link.getAttribute('href');
  const stranger = await browser.newContext({
    javaScriptEnabled: false,
    storageState: { cookies: [], origins: [] },
    timezoneId: 'Australia/Melbourne',
  });
  const view = await stranger.newPage();
  const response = await view.goto(`${path}?tz=Australia/Melbourne`);
  expect(response?.status()).toBe(200);
  await expect(view.getByRole('heading', { level: 1, name })).toBeVisible();
  await expect(progress(view)).toHaveText('2 of 40 settled (5%), 1 blocked');
  await expect(view.locator('li.checklist-item').first()).toHaveAttribute('data-state', 'done');
  await expect(view.locator('.item-note', { hasText: 'agreed with the client' })).toBeVisible();
  await expect(view.getByText('Sun 6 Dec 2026 09:00 – 13:00 Australia/Melbourne (UTC+11:00)')).toBeVisible();
  await expect(view.locator('.tick-form')).toHaveCount(0);
  await expect(view.locator('#check-service_ports .verdict').first()).toHaveText('Pass');
  await view.screenshot({ path: 'screenshots/no-js/shared-migration.png', fullPage: true });
  await stranger.close();
  await colleague.close();
  expect(errors).toEqual([]);
});

test("the viewer's time zone comes from the browser", async ({ browser, baseURL }) => {
  const context = await browser.newContext({ storageState: STAFF_STATE, timezoneId: 'Australia/Melbourne' });
  const page = await context.newPage();
  const name = `Zone check ${Date.now()}`;
  const created = await page.request.post('/api/migrations/create', {
    headers: { Origin: new URL(baseURL!).origin, Accept: 'application/json' },
    form: {
      'form[name]': name, 'form[owner]': 'Bob', 'form[domains]': 'zone.example.test',
      'form[source_server]': '192.0.2.1', 'form[target_server]': '192.0.2.2', 'form[services]': '',
      'form[window_start]': '2027-01-09T23:30', 'form[window_end]': '2027-01-10T01:00',
      'form[time_zone]': 'Europe/London', 'form[ttl_limit]': '',
    },
  });
  expect(created.status()).toBe(200);
  const id = await created.json();
  // The first page sets the zone cookie; pages after it are written in that zone.
  await page.goto('/');
  await page.goto(`/checklist/${id}`);
  await expect(page.getByRole('heading', { level: 1, name })).toBeVisible();
  await expect(page.locator('.page-head time').first()).toHaveText('Sun 10 Jan 2027 10:30 – 12:00 Australia/Melbourne (UTC+11:00)');
  await expect(page.getByText('Planned as Sat 9 Jan 2027 23:30 – Sun 10 Jan 2027 01:00 Europe/London (UTC+00:00)')).toBeVisible();
  await context.close();
});

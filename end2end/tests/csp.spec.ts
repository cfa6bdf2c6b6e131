// The Content-Security-Policy holds in a real browser: every page hydrates,
// the map draws (Leaflet, the glue module, the WebAssembly bundle, tiles and
// outlet pages) and Chromium reports no violation ("Refused to ...").
import { test, expect, type Page } from '@playwright/test';

function watchViolations(page: Page): string[] {
  const violations: string[] = [];
  page.on('console', (m) => {
    if (/Refused to|Content Security Policy|Content-Security-Policy/i.test(m.text())) violations.push(m.text());
  });
  page.on('pageerror', (e) => {
    if (/Content Security Policy|unsafe-eval|Refused to/i.test(e.message)) violations.push(e.message);
  });
  return violations;
}

for (const path of ['/', '/map', '/health', '/firewall', '/checklist', '/shares', '/login']) {
  test(`${path} hydrates under the policy without a violation`, async ({ page, javaScriptEnabled }) => {
    test.skip(!javaScriptEnabled, 'needs JavaScript');
    const violations = watchViolations(page);
    const response = await page.goto(path);
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("'unsafe-eval'");
    await expect(page.locator('html[data-hydrated="true"]')).toHaveCount(1);
    expect(violations).toEqual([]);
  });
}

test('the map draws outlets and their clusters under the policy', async ({ page, javaScriptEnabled }) => {
  test.skip(!javaScriptEnabled, 'needs JavaScript');
  const violations = watchViolations(page);
  await page.goto('/map?sel=county:bedfordshire');
  await expect(page.locator('html[data-hydrated="true"]')).toHaveCount(1);
  const map = page.locator('#map');
  await expect(map).toHaveAttribute('data-state', 'done', { timeout: 20_000 });
  await expect(map.locator('path.selection-boundary')).toHaveCount(1);
  expect(Number(await map.getAttribute('data-outlets'))).toBeGreaterThan(10);
  // The grouping glue (a module from pkg/snippets/) ran.
  await expect(map).toHaveAttribute('data-clusters', /\d+/);
  expect(violations).toEqual([]);
});

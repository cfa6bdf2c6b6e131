// The reach map: the region tree, the selection in the URL, Leaflet drawing the
// selection's boundary and outlets page by page, and the same link without JavaScript.
import { test, expect } from '@playwright/test';

test('expand East of England, click Bedfordshire: the URL, the map and the figures follow', async ({ page, javaScriptEnabled }) => {
  test.skip(!javaScriptEnabled, 'needs JavaScript');
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/map');
  await expect(page.locator('html[data-hydrated="true"]')).toHaveCount(1);
  const tree = page.getByRole('tree');
  await expect(tree.getByRole('treeitem')).toHaveCount(12);

  let documentRequests = 0;
  page.on('request', (r) => { if (r.resourceType() === 'document') documentRequests++; });
  await tree.getByRole('link', { name: 'Expand East of England' }).click();
  await expect(page).toHaveURL(/open=area:east-of-england/);
  const beds = tree.getByRole('link', { name: /^Bedfordshire/ });
  await expect(beds).toBeVisible();
  await beds.click();

  await expect(page).toHaveURL(/sel=county:bedfordshire/);
  await expect(page.getByRole('heading', { level: 1, name: 'Bedfordshire' })).toBeVisible();
  await expect(tree.locator('li[data-code="county:bedfordshire"]')).toHaveAttribute('aria-selected', 'true');
  const map = page.locator('#map');
  await expect(map).toHaveAttribute('data-selection', 'county:bedfordshire');
  await expect(map).toHaveAttribute('data-state', 'done', { timeout: 20_000 });
  // The boundary is drawn and the progress bar is full.
  await expect(map.locator('path.selection-boundary')).toHaveCount(1);
  // A county up close: few enough outlets to draw each one.
  await expect(map).toHaveAttribute('data-mode', 'vectors');
  const progress = page.locator('.map-progress progress');
  await expect(progress).toHaveAttribute('value', await progress.getAttribute('max') ?? 'x');
  await expect(page.locator('.map-progress')).toContainText('outlets drawn');
  // Every outlet based in Bedfordshire is on the map and counted in the figures.
  const drawn = Number(await map.getAttribute('data-outlets'));
  expect(drawn).toBeGreaterThan(10);
  await expect(page.getByRole('heading', { name: `Outlets based here (${drawn})` })).toBeVisible();
  // The map fitted the county: zoomed well in from the whole UK.
  const zoom = await page.evaluate(() => {
    const el = document.querySelector('#map .leaflet-map-pane') as HTMLElement | null;
    return el ? el.style.transform : '';
  });
  expect(zoom).not.toBe('');
  await expect(map.locator('.leaflet-control-scale-line').first()).toContainText(/\d+ km/);
  const scale = await map.locator('.leaflet-control-scale-line').first().textContent();
  expect(Number(scale?.replace(/\D/g, ''))).toBeLessThanOrEqual(20);

  // Clicking a kind filters the outlets without reloading.
  await page.getByRole('group', { name: 'Outlet kinds' }).getByRole('link', { name: 'Radio' }).click();
  await expect(page).toHaveURL(/kinds=newspaper,tv,online/);
  await expect
    .poll(async () => Number(await map.getAttribute('data-outlets')), { timeout: 15_000 })
    .toBeLessThan(drawn);
  await expect(map).toHaveAttribute('data-state', 'done');

  expect(documentRequests).toBe(0);
  expect(errors).toEqual([]);
  await page.screenshot({ path: 'screenshots/hydrated/map-bedfordshire.png', fullPage: true });
});

test('the tree search finds regions by name', async ({ page }) => {
  await page.goto('/map');
  await page.getByRole('searchbox', { name: 'Find a region' }).fill('bedford');
  await page.getByRole('button', { name: 'Find' }).click();
  await expect(page).toHaveURL(/q=bedford/);
  const tree = page.getByRole('tree');
  await expect(tree.getByRole('link', { name: /^Central Bedfordshire/ })).toBeVisible();
  await expect(tree.getByRole('link', { name: /^Scotland/ })).toHaveCount(0);
});

test('a shared selection link reads the same with JavaScript off', async ({ page, javaScriptEnabled }) => {
  test.skip(javaScriptEnabled, 'the no-JS reading');
  await page.goto('/map?sel=county:bedfordshire');
  await expect(page.getByRole('heading', { level: 1, name: 'Bedfordshire' })).toBeVisible();
  const tree = page.getByRole('tree');
  await expect(tree.locator('li[data-code="county:bedfordshire"]')).toHaveAttribute('aria-selected', 'true');
  await expect(tree.locator('li[data-code="area:east-of-england"]')).toHaveAttribute('aria-expanded', 'true');
  await expect(page.getByText('Population in towns')).toBeVisible();
  await expect(page.locator('table tbody tr').first()).toBeVisible();
  // Links work without scripts: open an outlet's details.
  await page.locator('table tbody tr a').first().click();
  await expect(page).toHaveURL(/outlet=\d+/);
  await expect(page.getByText('Population reached (towns)')).toBeVisible();
  await page.screenshot({ path: 'screenshots/no-js/map-bedfordshire.png', fullPage: true });
});

test('the tree works from the keyboard', async ({ page, javaScriptEnabled }) => {
  test.skip(!javaScriptEnabled, 'arrow keys need JavaScript; Tab and Enter work on the links without it');
  await page.goto('/map');
  await expect(page.locator('html[data-hydrated="true"]')).toHaveCount(1);
  const tree = page.getByRole('tree');
  await tree.locator('li[data-code="area:east-midlands"] .tree-link').first().focus();
  await page.keyboard.press('ArrowDown');
  const east = tree.locator('li[data-code="area:east-of-england"] > .tree-node > .tree-link');
  await expect(east).toBeFocused();
  await page.keyboard.press('ArrowRight');
  await expect(page).toHaveURL(/open=area:east-of-england/);
  await expect(tree.locator('li[data-code="area:east-of-england"]')).toHaveAttribute('aria-expanded', 'true');
  await expect(east).toBeFocused();
  await page.keyboard.press('ArrowRight');
  await expect(tree.locator('li[data-code="county:bedfordshire"] > .tree-node > .tree-link')).toBeFocused();
  await page.keyboard.press('ArrowLeft');
  await expect(east).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/sel=area:east-of-england/);
  await expect(page.getByRole('heading', { level: 1, name: 'East of England' })).toBeVisible();
});

test('far out the reach is coverage tiles; zooming in switches to vectors, grouped into numbered circles', async ({ page, javaScriptEnabled }) => {
  test.skip(!javaScriptEnabled, 'needs JavaScript');
  test.setTimeout(90_000);
  // A phone-sized window: the South East (over 400 outlets) fits at a zoom below the
  // auto mode's vector zoom (8).
  await page.setViewportSize({ width: 480, height: 720 });
  const tiles: { status: number; type: string }[] = [];
  page.on('response', (r) => {
    if (r.url().includes('/tiles/coverage/')) {
      tiles.push({ status: r.status(), type: r.headers()['content-type'] ?? '' });
    }
  });
  await page.goto('/map?sel=area:south-east');
  const map = page.locator('#map');
  await expect(map).toHaveAttribute('data-state', 'done', { timeout: 30_000 });
  await expect(map).toHaveAttribute('data-mode', 'tiles');
  await expect(page.locator('.map-progress')).toContainText('coverage tiles');
  await expect(map.locator('.coverage-tiles img.leaflet-tile-loaded').first()).toBeVisible({ timeout: 20_000 });
  expect(tiles.length).toBeGreaterThan(0);
  for (const t of tiles) {
    expect(t.status).toBe(200);
    expect(t.type).toBe('image/png');
  }
  expect(await map.locator('.outlet-marker').count()).toBe(0);
  await expect.poll(async () => map.locator('.coverage-tiles img:not(.leaflet-tile-loaded)').count(), { timeout: 30_000 }).toBe(0);
  await map.screenshot({ path: 'screenshots/hydrated/map-tiles.png' });

  // Zoom in (the + control) until the rule says vectors: no reload, same selection.
  const zoomIn = map.getByRole('button', { name: 'Zoom in' });
  for (let i = 0; i < 3 && (await map.getAttribute('data-mode')) === 'tiles'; i++) {
    await zoomIn.click();
    await page.waitForTimeout(600);
  }
  await expect(map).toHaveAttribute('data-mode', 'vectors', { timeout: 10_000 });
  await expect(map).toHaveAttribute('data-state', 'done', { timeout: 30_000 });
  await expect(map).toHaveAttribute('data-selection', 'area:south-east');
  await expect(map.locator('.coverage-tiles')).toHaveCount(0);
  await expect.poll(async () => Number(await map.getAttribute('data-clusters'))).toBeGreaterThan(5);

  // A numbered circle inside the view zooms in when clicked.
  const box = await map.boundingBox();
  const clusters = map.locator('.outlet-cluster');
  let inside = -1;
  for (let i = 0; i < (await clusters.count()) && inside < 0; i++) {
    const b = await clusters.nth(i).boundingBox();
    if (box && b && b.x > box.x + 20 && b.y > box.y + 20 && b.x + b.width < box.x + box.width - 80 && b.y + b.height < box.y + box.height - 40) {
      inside = i;
    }
  }
  expect(inside).toBeGreaterThanOrEqual(0);
  const cluster = clusters.nth(inside);
  expect(Number(await cluster.innerText())).toBeGreaterThan(1);
  const scale = await map.locator('.leaflet-control-scale-line').first().textContent();
  await cluster.click();
  await expect
    .poll(async () => map.locator('.leaflet-control-scale-line').first().textContent())
    .not.toBe(scale);
  await page.screenshot({ path: 'screenshots/hydrated/map-grouped.png' });
});

test('the whole UK is drawn as coverage tiles', async ({ page, javaScriptEnabled }) => {
  test.skip(!javaScriptEnabled, 'needs JavaScript');
  await page.goto('/map');
  const map = page.locator('#map');
  await expect(map).toHaveAttribute('data-state', 'done', { timeout: 30_000 });
  await expect(map).toHaveAttribute('data-mode', 'tiles');
  await expect(map.locator('.coverage-tiles img.leaflet-tile-loaded').first()).toBeVisible({ timeout: 20_000 });
  await expect.poll(async () => map.locator('.coverage-tiles img:not(.leaflet-tile-loaded)').count(), { timeout: 30_000 }).toBe(0);
  await map.screenshot({ path: 'screenshots/hydrated/map-uk-tiles.png' });
  // Tiles have no markers: a click says which outlets reach that point (here
  // the English Midlands, where the fitted UK puts them).
  const box = await map.boundingBox();
  await map.click({ position: { x: (box?.width ?? 0) * 0.59, y: (box?.height ?? 0) * 0.71 } });
  const popup = map.locator('.leaflet-popup-content .reach-at');
  await expect(popup).toContainText(/\d+ outlets? reach(es)? here/, { timeout: 10_000 });
  expect(await popup.locator('li').count()).toBeGreaterThan(0);
  await expect(popup.locator('li a').first()).toHaveAttribute('href', /outlet=\d+/);
  await map.screenshot({ path: 'screenshots/hydrated/map-reach-at.png' });
});

import { Page, expect } from '@playwright/test';

export type Who = 'admin' | 'staff' | 'viewer';

export function credentials(who: Who): { user: string; password: string } {
  const key = who.toUpperCase();
  const user = process.env[`E2E_${key}_USER`];
  const password = process.env[`E2E_${key}_PASSWORD`];
  if (!user || !password) throw new Error(`E2E_${key}_USER / E2E_${key}_PASSWORD are not set (run through cargo xtask test)`);
  return { user, password };
}

/** Signs in through the real form (works with and without JavaScript). */
export async function signIn(page: Page, who: Who, next = '/') {
  const { user, password } = credentials(who);
  await page.goto(`/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('.user-menu')).toBeVisible();
}

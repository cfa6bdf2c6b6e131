// Signs in once as staff; the other projects start from this cookie.
import { test as setup } from '@playwright/test';
import { signIn } from './util';
import { STAFF_STATE } from '../playwright.config';

setup('sign in as staff', async ({ page }) => {
  await signIn(page, 'staff');
  await page.context().storageState({ path: STAFF_STATE });
});

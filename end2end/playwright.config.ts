import { defineConfig } from '@playwright/test';

// Debian's Chromium: test tools cannot download browsers on these machines.
// `cargo xtask test` starts the server, creates one user per role and passes
// the address and the credentials in the environment.
const chromium = {
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
  ],
};

export const STAFF_STATE = '.auth/staff.json';

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  retries: 0,
  workers: 2,
  reporter: [['list']],
  outputDir: './test-results',
  use: {
    baseURL: process.env.BASE_URL ?? 'http://127.0.0.1:3000',
    launchOptions: chromium,
  },
  projects: [
    { name: 'setup', testMatch: /auth\.setup\.ts/ },
    {
      name: 'hydrated',
      dependencies: ['setup'],
      use: { javaScriptEnabled: true, storageState: STAFF_STATE },
    },
    {
      name: 'no-js',
      dependencies: ['setup'],
      use: { javaScriptEnabled: false, storageState: STAFF_STATE },
    },
  ],
});

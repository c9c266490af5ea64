// Logs in to JupyterLab or code-server with a real browser (Debian's
// Chromium driven by playwright-core), the way a person does: first with a
// wrong password, which must be refused, then with the right one, which must
// open the application. Saves a screenshot of each step.
//
//   JUPYTER_PASSWORD_FILE=path node browser_check.mjs jupyterlab URL OUTDIR [KERNEL_DISPLAY_NAME...]
//   CODE_SERVER_PASSWORD_FILE=path node browser_check.mjs code-server URL OUTDIR
//
// Passwords come from a file (or the variable without _FILE) so they never
// show in a process listing or in Ansible's command logging.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const TIMEOUT_MS = Number(process.env.BROWSER_CHECK_TIMEOUT_MS || 90000);
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// Without the networking flags Chromium reaches for hosts this machine cannot
// reach, again and again.
const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
// Behind an ingress with a local CA: the base64 SHA-256 of the public keys to
// accept (the CA's and the server certificate's), comma-separated. Chromium
// reads trust anchors from an NSS database only; this is its flag for a known key.
if (process.env.BROWSER_TRUSTED_SPKI) {
  CHROMIUM_ARGS.push(`--ignore-certificate-errors-spki-list=${process.env.BROWSER_TRUSTED_SPKI}`);
}

const apps = {
  jupyterlab: {
    passwordEnv: 'JUPYTER_PASSWORD',
    loginPath: 'login',
    passwordField: 'input[name="password"]',
    refusedText: /Invalid credentials/i,
    appReady: '#jp-main-dock-panel',
    async afterLogin(page, expected, baseUrl) {
      // The launcher lists one card per kernelspec, by display name.
      await page.waitForSelector('.jp-LauncherCard', { timeout: TIMEOUT_MS });
      const titles = await page.$$eval('.jp-LauncherCard', (cards) =>
        cards.map((card) => card.getAttribute('title') || card.textContent || ''));
      const missing = expected.filter((name) => !titles.includes(name));
      if (missing.length) {
        throw new Error(`launcher lacks kernel(s) ${missing.join(', ')}; it shows: ${titles.join(' | ')}`);
      }
      if (!process.env.BROWSER_CHECK_WORK) return { launcher: titles };
      // Opt-in and not yet passing (Molecule does not set it): a notebook of
      // the first kernel, a cell that shows its result, then a terminal.
      await page.click(`.jp-LauncherCard[data-category="Notebook"][title="${expected[0]}"]`);
      await page.click('.jp-NotebookPanel .jp-Cell .cm-content');
      await page.keyboard.type('6 * 7');
      await page.keyboard.press('Shift+Enter');
      await page.waitForSelector('.jp-NotebookPanel .jp-OutputArea-output:has-text("42")', { timeout: TIMEOUT_MS })
        .catch(() => { throw new Error('a notebook cell did not show its result (42)'); });
      await page.screenshot({ path: join(process.env.BROWSER_CHECK_WORK, 'jupyterlab-notebook.png') });
      // A terminal, from a new launcher: the server must then list its session.
      await page.keyboard.press('Control+Shift+L');
      await page.click('.jp-LauncherCard[data-category="Other"]:has-text("Terminal")');
      await page.waitForSelector('.jp-Terminal .xterm', { timeout: TIMEOUT_MS });
      const terminals = await page.evaluate(async (base) => (await (await fetch(`${base}api/terminals`)).json()).length, baseUrl);
      if (!terminals) throw new Error('a terminal opened in JupyterLab but the server lists no terminal session');
      return { launcher: titles, cell: '42', terminals };
    },
  },
  'code-server': {
    passwordEnv: 'CODE_SERVER_PASSWORD',
    loginPath: 'login',
    passwordField: 'input[name="password"]',
    refusedText: /Incorrect password/i,
    appReady: '.monaco-workbench',
    async afterLogin() {
      return {};
    },
  },
};

async function login(page, app, baseUrl, password) {
  await page.goto(`${baseUrl}${app.loginPath}`, { waitUntil: 'domcontentloaded' });
  await page.fill(app.passwordField, password);
  await Promise.all([
    page.waitForNavigation({ waitUntil: 'domcontentloaded' }).catch(() => undefined),
    page.press(app.passwordField, 'Enter'),
  ]);
}

async function main() {
  const [appName, url, outDir, ...expected] = process.argv.slice(2);
  const app = apps[appName];
  if (!app || !url || !outDir) {
    console.error('usage: node browser_check.mjs jupyterlab|code-server URL OUTDIR [KERNEL_DISPLAY_NAME...]');
    process.exit(2);
  }
  const passwordFile = process.env[`${app.passwordEnv}_FILE`];
  const password = passwordFile ? readFileSync(passwordFile, 'utf8') : process.env[app.passwordEnv];
  if (!password) throw new Error(`neither ${app.passwordEnv}_FILE nor ${app.passwordEnv} is set`);
  const baseUrl = url.endsWith('/') ? url : `${url}/`;
  mkdirSync(outDir, { recursive: true });
  const shot = (name) => join(outDir, `${appName}-${name}.png`);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT_MS);

    await login(page, app, baseUrl, `${password}-wrong`);
    await page.waitForSelector(`text=${app.refusedText.source}`, { timeout: TIMEOUT_MS })
      .catch(() => { throw new Error(`a wrong password was not refused at ${baseUrl}${app.loginPath}`); });
    await page.screenshot({ path: shot('refused') });

    await login(page, app, baseUrl, password);
    await page.waitForSelector(app.appReady, { timeout: TIMEOUT_MS })
      .catch(async () => {
        await page.screenshot({ path: shot('failed') });
        throw new Error(`${appName} did not open after logging in with the right password (no ${app.appReady}; see ${shot('failed')})`);
      });
    const details = await app.afterLogin(page, expected, baseUrl);
    await page.screenshot({ path: shot('ready') });
    const cookies = (await context.cookies()).map((cookie) => cookie.name);
    process.stdout.write(`${JSON.stringify({ app: appName, url: baseUrl, title: await page.title(), cookies, screenshots: [shot('refused'), shot('ready')], ...details })}\n`);
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  console.error(`browser_check: ${err.message || err}`);
  process.exit(1);
});

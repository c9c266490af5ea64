// Logs in to JupyterLab or code-server with a real browser (Debian's
// Chromium driven by playwright-core), the way a person does: first with a
// wrong password, which must be refused, then with the right one, which must
// open the application. In JupyterLab it then runs a notebook cell of the
// first kernel named and a terminal command, and sees both results; in
// code-server the workbench must connect to its server. Saves a screenshot of
// each step, prints what it saw and the seconds each step took, as JSON.
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

// What the page's websockets carried, to tell a connection that works through
// the ingress (upgraded, frames back) from a page that merely rendered.
function watchWebSockets(page) {
  const sockets = [];
  page.on('websocket', (ws) => {
    const entry = { url: ws.url(), frames: 0, text: '', closed: false };
    sockets.push(entry);
    ws.on('framereceived', ({ payload }) => {
      entry.frames += 1;
      // Terminal output is text; keep a bounded tail to search.
      if (typeof payload === 'string') entry.text = (entry.text + payload).slice(-20000);
    });
    ws.on('close', () => { entry.closed = true; });
  });
  return sockets;
}

async function waitFor(what, predicate, timeoutMs = TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = predicate();
    if (found) return found;
    await new Promise((resolve) => { setTimeout(resolve, 200); });
  }
  throw new Error(`${what} within ${timeoutMs / 1000} s`);
}

// The API as the logged-in page calls it: its cookies and its _xsrf token.
async function api(page, baseUrl, method, path) {
  return page.evaluate(async ([base, verb, rel]) => {
    const xsrf = (document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/) || [])[1] || '';
    const response = await fetch(`${base}${rel}`, { method: verb, headers: { 'X-XSRFToken': decodeURIComponent(xsrf) } });
    return { status: response.status, body: response.status === 200 ? await response.json() : null };
  }, [baseUrl, method, path]);
}

const apps = {
  jupyterlab: {
    passwordEnv: 'JUPYTER_PASSWORD',
    loginPath: 'login',
    // A fresh workspace: otherwise JupyterLab restores the tabs of this user's
    // last visit (a notebook of an earlier round) and shows no launcher.
    next: 'lab?reset',
    passwordField: 'input[name="password"]',
    refusedText: /Invalid credentials/i,
    appReady: '#jp-main-dock-panel',
    async afterLogin(page, expected, baseUrl, { sockets, shot, lap }) {
      // The launcher lists one card per kernelspec, by display name.
      await page.waitForSelector('.jp-LauncherCard', { timeout: TIMEOUT_MS });
      lap('launcher');
      const titles = await page.$$eval('.jp-LauncherCard[data-category="Notebook"]', (cards) =>
        cards.map((card) => card.getAttribute('title') || card.textContent || ''));
      const missing = expected.filter((name) => !titles.includes(name));
      if (missing.length) {
        throw new Error(`launcher lacks kernel(s) ${missing.join(', ')}; it shows: ${titles.join(' | ')}`);
      }
      if (!expected.length) return { launcher: titles };

      // A notebook of the first kernel; a cell whose result shows on the page.
      const before = new Set(((await api(page, baseUrl, 'GET', 'api/contents')).body?.content || []).map((item) => item.path));
      await page.click(`.jp-LauncherCard[data-category="Notebook"][title="${expected[0]}"]`);
      // A cell run before the kernel is connected is dropped, not queued: it
      // would wait forever (the check's earlier failures).
      await page.waitForSelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status="idle"]', { timeout: TIMEOUT_MS })
        .catch(async () => {
          await page.screenshot({ path: shot('failed') });
          throw new Error(`the notebook's kernel did not become idle; see ${shot('failed')}`);
        });
      lap('kernel');
      const firstCell = '.jp-NotebookPanel .jp-Cell >> nth=0';
      // Keys typed while the notebook is still settling can go elsewhere (a
      // cell holding only "7" was seen): the text is checked, retyped if short.
      for (let typed = 1; ; typed += 1) {
        await page.click(`${firstCell} >> .cm-content`);
        await page.keyboard.press('Control+A');
        await page.keyboard.type('6 * 7');
        const text = ((await page.textContent(`${firstCell} >> .cm-content`)) || '').trim();
        if (text === '6 * 7') break;
        if (typed >= 3) throw new Error(`the first cell holds ${JSON.stringify(text)} after typing 6 * 7 three times`);
      }
      // A run whose request was lost (its websocket dropped, see load()) never
      // starts: the cell keeps an empty prompt. It is run again, and counted.
      let cellRuns = 0;
      let prompt = '';
      for (const deadline = Date.now() + TIMEOUT_MS; ;) {
        if (!cellRuns || /\[\s*\]/.test(prompt)) {
          await page.click(`${firstCell} >> .cm-content`);
          await page.keyboard.press('Control+Enter');
          cellRuns += 1;
        }
        const shown = await page.waitForSelector('.jp-NotebookPanel .jp-OutputArea-output:has-text("42")', { timeout: 10000 })
          .then(() => true, () => false);
        if (shown) break;
        prompt = (await page.textContent(`${firstCell} >> .jp-InputPrompt`)) || '';
        if (Date.now() > deadline) {
          await page.screenshot({ path: shot('failed') });
          throw new Error(`a notebook cell did not show its result (42) after ${cellRuns} run(s), prompt ${prompt}; see ${shot('failed')}`);
        }
      }
      lap('cell');
      await page.screenshot({ path: shot('notebook') });
      const kernelSocket = sockets.find((ws) => /\/api\/kernels\/[^/]+\/channels/.test(ws.url));

      // A terminal, from the File menu (a key binding would go to the cell
      // editor, which has the focus); the command's output must come back
      // over the terminal's websocket. Its canvas holds the text, not the DOM.
      await page.click('.lm-MenuBar-itemLabel:text-is("File")');
      await page.hover('.lm-Menu-item:has-text("New")');
      await page.click('.lm-Menu-item[data-command="terminal:create-new"]');
      await page.waitForSelector('.jp-Terminal .xterm', { timeout: TIMEOUT_MS });
      const terminalSocket = await waitFor('no terminal websocket opened',
        () => sockets.find((ws) => /\/terminals\/websocket\/[^/?]+/.test(ws.url)));
      await page.click('.jp-Terminal .xterm');
      // The typed line is echoed as typed; only the shell's arithmetic prints 42.
      await page.keyboard.type('echo remotedev-$((6 * 7))\n');
      await waitFor('the terminal command\'s output (remotedev-42) did not come back',
        () => terminalSocket.text.includes('remotedev-42'));
      lap('terminal');
      await page.screenshot({ path: shot('terminal') });
      const terminalName = terminalSocket.url.match(/\/terminals\/websocket\/([^/?]+)/)[1];
      const terminals = (await api(page, baseUrl, 'GET', 'api/terminals')).body || [];
      if (!terminals.some((terminal) => terminal.name === terminalName)) {
        throw new Error(`the server does not list terminal ${terminalName}: ${JSON.stringify(terminals)}`);
      }

      // Leave nothing behind: the terminal, the notebook's kernel, the notebook.
      const created = ((await api(page, baseUrl, 'GET', 'api/contents')).body?.content || [])
        .filter((item) => item.type === 'notebook' && !before.has(item.path)).map((item) => item.path);
      const sessions = (await api(page, baseUrl, 'GET', 'api/sessions')).body || [];
      const cleanup = [`api/terminals/${terminalName}`,
        ...sessions.filter((session) => created.includes(session.path)).map((session) => `api/sessions/${session.id}`),
        ...created.map((path) => `api/contents/${encodeURI(path)}`)];
      for (const path of cleanup) {
        const { status } = await api(page, baseUrl, 'DELETE', path);
        if (status !== 204) throw new Error(`DELETE ${path} answered ${status}`);
      }
      return {
        launcher: titles,
        cell: '42',
        cellRuns,
        terminal: 'remotedev-42',
        websockets: { kernel: Boolean(kernelSocket && kernelSocket.frames), terminal: terminalSocket.frames },
        screenshots: [shot('notebook'), shot('terminal')],
        removed: created,
      };
    },
  },
  'code-server': {
    passwordEnv: 'CODE_SERVER_PASSWORD',
    loginPath: 'login',
    passwordField: 'input[name="password"]',
    refusedText: /Incorrect password/i,
    appReady: '.monaco-workbench',
    // The workbench renders before its connection to the server; the
    // explorer's folder comes over that websocket, which must stay open.
    async afterLogin(page, expected, baseUrl, { sockets, lap }) {
      await page.waitForSelector('.explorer-folders-view .monaco-list-row, .explorer-viewlet .pane-header[aria-label]',
        { timeout: TIMEOUT_MS });
      const origin = new URL(baseUrl).host;
      const remote = await waitFor('no websocket to code-server carried frames',
        () => sockets.find((ws) => new URL(ws.url).host === origin && ws.frames > 2));
      if (remote.closed) throw new Error(`code-server's websocket closed: ${remote.url}`);
      const folder = await page.$eval('.explorer-viewlet .pane-header[aria-label]', (header) => header.getAttribute('aria-label'))
        .catch(() => '');
      lap('workbench');
      return { workspace: folder, websocketFrames: remote.frames };
    },
  },
};

// Creating and deleting pods adds and removes network interfaces on this
// machine; Chromium takes that for a network change and aborts what is in
// flight (ERR_NETWORK_CHANGED: an error page, closed websockets). A page
// load that ends on the error page is repeated, a few times.
const NETWORK_RETRIES = 3;
const onErrorPage = (page) => page.url().startsWith('chrome-error://');

async function load(page, url) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await page.goto(url, { waitUntil: 'domcontentloaded' });
      if (!onErrorPage(page)) return;
    } catch (err) {
      if (!/ERR_NETWORK_CHANGED|ERR_NETWORK_IO_SUSPENDED/.test(String(err)) || attempt >= NETWORK_RETRIES) throw err;
    }
    if (attempt >= NETWORK_RETRIES) throw new Error(`${url} ended on Chromium's error page ${NETWORK_RETRIES} times`);
    await new Promise((resolve) => { setTimeout(resolve, 1000); });
  }
}

async function login(page, app, baseUrl, password) {
  const next = app.next ? `?next=${encodeURIComponent(new URL(baseUrl).pathname + app.next)}` : '';
  await load(page, `${baseUrl}${app.loginPath}${next}`);
  await page.fill(app.passwordField, password);
  await Promise.all([
    page.waitForNavigation({ waitUntil: 'domcontentloaded' }).catch(() => undefined),
    page.press(app.passwordField, 'Enter'),
  ]);
  // The session cookie is set by then; the application's page is loaded again.
  if (onErrorPage(page)) await load(page, `${baseUrl}${app.next || ''}`);
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
    const sockets = watchWebSockets(page);
    const started = Date.now();
    const seconds = {};
    const lap = (step) => { seconds[step] = Number(((Date.now() - started) / 1000).toFixed(1)); };

    await login(page, app, baseUrl, `${password}-wrong`);
    await page.waitForSelector(`text=${app.refusedText.source}`, { timeout: TIMEOUT_MS })
      .catch(() => { throw new Error(`a wrong password was not refused at ${baseUrl}${app.loginPath}`); });
    await page.screenshot({ path: shot('refused') });
    lap('refused');

    await login(page, app, baseUrl, password);
    await page.waitForSelector(app.appReady, { timeout: TIMEOUT_MS })
      .catch(async () => {
        await page.screenshot({ path: shot('failed') });
        throw new Error(`${appName} did not open after logging in with the right password (no ${app.appReady}; see ${shot('failed')})`);
      });
    lap('ready');
    const { screenshots = [], ...details } = await app.afterLogin(page, expected, baseUrl, { sockets, shot, lap });
    await page.screenshot({ path: shot('ready') });
    const cookies = (await context.cookies()).map((cookie) => cookie.name);
    process.stdout.write(`${JSON.stringify({
      app: appName, url: baseUrl, title: await page.title(), cookies, seconds,
      screenshots: [shot('refused'), ...screenshots, shot('ready')], ...details,
    })}\n`);
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  console.error(`browser_check: ${err.message || err}`);
  process.exit(1);
});

// Drives the standalone frontend (roles/image/files/frontend) with a real
// browser (Debian's Chromium through playwright-core), as a person does:
// opens the proxy's address, is sent to the Jupyter Server's own login page,
// is refused with a wrong password, logs in with the right one (and a user
// name when the server has named users), comes back to the page, picks a
// kernel, runs a cell that prints and one that shows an image and HTML, sees
// an error, interrupts a running cell, restarts the kernel (its variables are
// gone), saves the notebook to the server's contents API and opens it again.
// Prints what it saw and the seconds each step took, as JSON; saves
// screenshots in OUTDIR.
//
//   FRONTEND_PASSWORD_FILE=path [FRONTEND_USERNAME=name] \
//     node frontend_check.mjs URL OUTDIR KERNEL_DISPLAY_NAME NOTEBOOK_PATH
//
// The password comes from a file (or FRONTEND_PASSWORD) so it never shows in
// a process listing or in Ansible's command logging.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const TIMEOUT_MS = Number(process.env.BROWSER_CHECK_TIMEOUT_MS || 90000);
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
if (process.env.BROWSER_TRUSTED_SPKI) {
  CHROMIUM_ARGS.push(`--ignore-certificate-errors-spki-list=${process.env.BROWSER_TRUSTED_SPKI}`);
}

// A 48x48 PNG made by the kernel from the standard library (no matplotlib
// needed), shown with IPython.display next to an HTML fragment.
const IMAGE_CELL = [
  'import struct, zlib',
  'from IPython.display import HTML, Image, display',
  'def chunk(kind, data):',
  '    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))',
  'rows = b"".join(b"\\x00" + bytes([200, 40, 40]) * 48 for _ in range(48))',
  'png = b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 48, 48, 8, 2, 0, 0, 0)) \\',
  '    + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")',
  'display(Image(data=png), HTML("<b class=\\"rdf-html-probe\\">html-" + str(6 * 7) + "</b>"))',
].join('\n');

const cell = (n) => `[data-testid="cell"] >> nth=${n}`;
const output = (n) => `${cell(n)} >> [data-testid="output"]`;

async function login(page, baseUrl, password, username) {
  // The page itself sends a browser without a session to the server's login.
  await page.goto(baseUrl, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('input[name="password"]', { timeout: TIMEOUT_MS })
    .catch(() => { throw new Error(`${baseUrl} did not lead to the server's login page (at ${page.url()})`); });
  if (!new URL(page.url()).pathname.endsWith('/login')) throw new Error(`login form outside /login: ${page.url()}`);
  if (username && await page.$('input[name="username"]')) await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', password);
  await Promise.all([
    page.waitForNavigation({ waitUntil: 'domcontentloaded' }).catch(() => undefined),
    page.press('input[name="password"]', 'Enter'),
  ]);
}

async function typeInCell(page, n, text, { insert = false } = {}) {
  await page.click(`${cell(n)} >> .cm-content`);
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  // Typed key by key for a one-liner; inserted as one input for a block (the
  // editor would indent and complete what a person types line by line).
  if (insert) await page.keyboard.insertText(text);
  else await page.keyboard.type(text);
  const got = await page.$eval(`${cell(n)} >> .cm-content`, (node) => node.cmView?.view?.state.doc.toString()
    ?? [...node.querySelectorAll('.cm-line')].map((line) => line.textContent).join('\n'));
  if (got !== text) throw new Error(`cell ${n} holds ${JSON.stringify(got)}, not ${JSON.stringify(text)}`);
}

async function runCell(page, n) {
  await page.click(`${cell(n)} >> [data-testid="run"]`);
}

async function addCell(page) {
  const count = await page.locator('[data-testid="cell"]').count();
  await page.click('[data-testid="add-cell"]');
  await page.waitForSelector(cell(count));
  return count;
}

async function waitStatus(page, status) {
  await page.waitForSelector(`[data-testid="kernel-status"][data-status="${status}"]`, { timeout: TIMEOUT_MS })
    .catch(async () => {
      const shown = await page.textContent('[data-testid="kernel-status"]');
      throw new Error(`the kernel status did not become ${status} (it shows ${shown})`);
    });
}

async function main() {
  const [url, outDir, kernelName, notebookPath] = process.argv.slice(2);
  if (!url || !outDir || !kernelName || !notebookPath) {
    console.error('usage: node frontend_check.mjs URL OUTDIR KERNEL_DISPLAY_NAME NOTEBOOK_PATH');
    process.exit(2);
  }
  const passwordFile = process.env.FRONTEND_PASSWORD_FILE;
  const password = passwordFile ? readFileSync(passwordFile, 'utf8').trim() : process.env.FRONTEND_PASSWORD;
  if (!password) throw new Error('neither FRONTEND_PASSWORD_FILE nor FRONTEND_PASSWORD is set');
  const username = process.env.FRONTEND_USERNAME || '';
  const baseUrl = url.endsWith('/') ? url : `${url}/`;
  mkdirSync(outDir, { recursive: true });
  const shot = (name) => join(outDir, `frontend-${name}.png`);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
  const sockets = [];
  page.on('websocket', (ws) => {
    const entry = { url: ws.url(), frames: 0 };
    sockets.push(entry);
    ws.on('framereceived', () => { entry.frames += 1; });
  });
  const started = Date.now();
  const seconds = {};
  const lap = (step) => { seconds[step] = Number(((Date.now() - started) / 1000).toFixed(1)); };

  try {
    await login(page, baseUrl, `${password}-wrong`, username);
    await page.waitForSelector('text=/Invalid credentials/i', { timeout: TIMEOUT_MS })
      .catch(() => { throw new Error('a wrong password was not refused by the server\'s login page'); });
    lap('refused');
    await login(page, baseUrl, password, username);
    await page.waitForSelector('body[data-ready="true"]', { timeout: TIMEOUT_MS }).catch(async () => {
      await page.screenshot({ path: shot('failed') });
      throw new Error(`the frontend did not load after logging in (at ${page.url()}; `
        + `message: ${await page.textContent('[data-testid="message"]').catch(() => '?')}; ${problems.join('; ')})`);
    });
    const pageUrl = new URL(page.url());
    if (!pageUrl.pathname.endsWith('/frontend/')) throw new Error(`after login the browser is at ${page.url()}`);
    const user = (await page.textContent('[data-testid="user"]')).trim();
    lap('logged-in');

    const kernels = await page.$$eval('[data-testid="kernel-select"] option', (options) =>
      options.map((option) => ({ name: option.value, label: option.textContent })));
    const wanted = kernels.find((kernel) => kernel.label === kernelName);
    if (!wanted) throw new Error(`no kernel ${kernelName} to pick; the page offers ${kernels.map((k) => k.label).join(' | ')}`);
    await page.selectOption('[data-testid="kernel-select"]', wanted.name);

    // 1. A cell that prints, run with Shift+Enter (which adds the next cell).
    await typeInCell(page, 0, 'marker = 6 * 7; print(f"frontend-{marker}")');
    await page.keyboard.press('Shift+Enter');
    await page.waitForSelector(`${output(0)} >> text=frontend-42`, { timeout: TIMEOUT_MS });
    await waitStatus(page, 'idle');
    const prompt = (await page.textContent(`${cell(0)} >> .rdf-prompt`)).trim();
    if (prompt !== '[1]:') throw new Error(`the first cell's prompt is ${prompt}, not [1]:`);
    lap('print');

    // 2. An image and HTML (rich output through rendermime).
    await page.waitForSelector(cell(1));
    await typeInCell(page, 1, IMAGE_CELL, { insert: true });
    await runCell(page, 1);
    const image = await page.waitForSelector(`${output(1)} >> img`, { timeout: TIMEOUT_MS });
    await page.waitForFunction((img) => img.complete && img.naturalWidth > 0, image);
    const imageSize = await image.evaluate((img) => [img.naturalWidth, img.naturalHeight]);
    if (imageSize.join('x') !== '48x48') throw new Error(`the image is ${imageSize.join('x')}, not 48x48`);
    await page.waitForSelector(`${output(1)} >> .rdf-html-probe:text-is("html-42")`, { timeout: TIMEOUT_MS });
    lap('image');

    // 3. An error shows its traceback.
    const errorCell = await addCell(page);
    await typeInCell(page, errorCell, '1 / 0');
    await runCell(page, errorCell);
    await page.waitForSelector(`${output(errorCell)} >> text=ZeroDivisionError`, { timeout: TIMEOUT_MS });
    lap('error');

    // 4. Interrupt a cell that would run for two minutes.
    const sleepCell = await addCell(page);
    await typeInCell(page, sleepCell, 'import time; time.sleep(120)');
    await runCell(page, sleepCell);
    await waitStatus(page, 'busy');
    await page.click('[data-testid="interrupt"]');
    await page.waitForSelector(`${output(sleepCell)} >> text=KeyboardInterrupt`, { timeout: 30000 })
      .catch(() => { throw new Error('interrupting the kernel did not stop the running cell'); });
    await waitStatus(page, 'idle');
    lap('interrupt');
    await page.screenshot({ path: shot('notebook'), fullPage: true });

    // 5. Restart: the kernel forgets `marker`.
    await page.click('[data-testid="restart"]');
    await page.waitForSelector('[data-testid="message"]:text-is("Kernel restarted")', { timeout: TIMEOUT_MS });
    await waitStatus(page, 'idle');
    const probeCell = await addCell(page);
    await typeInCell(page, probeCell, 'print("marker" in globals())');
    await runCell(page, probeCell);
    await page.waitForSelector(`${output(probeCell)} >> text=False`, { timeout: TIMEOUT_MS })
      .catch(() => { throw new Error('after a restart the kernel still knows `marker` (or printed nothing)'); });
    lap('restart');

    // 6. Save to the contents API, then open it again into a fresh page.
    await page.fill('[data-testid="path"]', notebookPath);
    await page.click('[data-testid="save"]');
    await page.waitForSelector(`[data-testid="message"]:has-text("Saved ${notebookPath}")`, { timeout: TIMEOUT_MS })
      .catch(async () => { throw new Error(`saving failed: ${await page.textContent('[data-testid="message"]')}`); });
    lap('save');
    await page.goto(`${pageUrl.origin}${pageUrl.pathname}?path=${encodeURIComponent(notebookPath)}`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('body[data-ready="true"]', { timeout: TIMEOUT_MS });
    const reopened = await page.locator('[data-testid="cell"]').count();
    if (reopened !== probeCell + 1) throw new Error(`the reopened notebook has ${reopened} cells, not ${probeCell + 1}`);
    await page.waitForSelector(`${output(0)} >> text=frontend-42`, { timeout: TIMEOUT_MS });
    await page.waitForSelector(`${output(1)} >> img`, { timeout: TIMEOUT_MS });
    lap('open');
    await page.screenshot({ path: shot('reopened'), fullPage: true });

    const kernelSocket = sockets.find((ws) => /\/api\/kernels\/[^/]+\/channels/.test(ws.url));
    if (!kernelSocket || !kernelSocket.frames) throw new Error('no kernel websocket carried frames through the proxy');
    const pageErrors = problems.filter((problem) => problem.startsWith('page error'));
    if (pageErrors.length) throw new Error(`the page threw: ${pageErrors.join('; ')}`);
    process.stdout.write(`${JSON.stringify({
      url: baseUrl, page: page.url(), user, kernel: wanted, cells: reopened, image: imageSize.join('x'),
      cookies: (await context.cookies()).map((c) => c.name), kernelSocketFrames: kernelSocket.frames,
      consoleErrors: problems, seconds, screenshots: [shot('notebook'), shot('reopened')],
    })}\n`);
  } catch (error) {
    await page.screenshot({ path: shot('failed'), fullPage: true }).catch(() => {});
    throw new Error(`${error.message} (screenshot ${shot('failed')})`);
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  console.error(`frontend_check: ${err.message || err}`);
  process.exit(1);
});

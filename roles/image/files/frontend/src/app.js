// A focused notebook page on a shared Jupyter Server: pick a kernel, edit and
// run cells, see their output (text, errors, images, HTML), interrupt and
// restart the kernel, save to and open from the server's contents API.
//
// Built from JupyterLab's own packages: @jupyterlab/services talks to the
// server (REST with the _xsrf cookie as X-XSRFToken, the kernel websocket),
// @jupyterlab/outputarea and @jupyterlab/rendermime show the kernel's
// messages, CodeMirror edits the cells. The page is served by the proxy on the
// same origin as the server (server.js), so it holds no credential of its own:
// the server's login cookie does, set by the server's own /login page.
import '@jupyterlab/rendermime/style/base.css';
import '@jupyterlab/outputarea/style/base.css';
// The page's own look, after the packages' styles (one app.css in the build).
import './app.css';
import { ContentsManager, KernelManager, KernelSpecManager, ServerConnection } from '@jupyterlab/services';
import { OutputArea, OutputAreaModel } from '@jupyterlab/outputarea';
import { RenderMimeRegistry, standardRendererFactories } from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';
import { EditorView, basicSetup } from 'codemirror';
import { keymap } from '@codemirror/view';
import { Prec } from '@codemirror/state';
import { python } from '@codemirror/lang-python';

// The page lives at <server base URL>frontend/ (the proxy's APP_PREFIX): the
// server's base URL is what precedes it, so the page needs no configuration.
const APP_DIR = 'frontend/';
const appPath = window.location.pathname.replace(/[^/]*$/, '');
const basePath = appPath.endsWith(`/${APP_DIR}`) ? appPath.slice(0, -APP_DIR.length) : '/';
const settings = ServerConnection.makeSettings({
  baseUrl: `${window.location.origin}${basePath}`,
  wsUrl: `${window.location.protocol === 'https:' ? 'wss' : 'ws'}://${window.location.host}${basePath}`,
  appendToken: false,
});
// Made after the login check: the managers start polling the API at once.
let kernelSpecs;
let kernels;
let contents;
// Outputs of cells run here are trusted; outputs read from a file are not
// (their HTML is sanitized, as JupyterLab does for an untrusted notebook).
const rendermime = new RenderMimeRegistry({ initialFactories: standardRendererFactories });

const $ = (id) => document.getElementById(id);
const state = { kernel: null, specs: {}, cells: [], user: null };

function say(text, kind = 'info') {
  const node = $('message');
  node.textContent = text;
  node.dataset.kind = kind;
}

function loginUrl() {
  return `${basePath}login?next=${encodeURIComponent(appPath + window.location.search)}`;
}

// 403 from the API means no (or an expired) login: the server's own login page,
// which comes back here afterwards.
async function whoAmI() {
  const response = await ServerConnection.makeRequest(`${settings.baseUrl}api/me`, {}, settings);
  if (response.status === 403 || response.status === 401) {
    window.location.assign(loginUrl());
    return null;
  }
  if (!response.ok) throw new Error(`GET api/me answered ${response.status}`);
  return (await response.json()).identity;
}

function setStatus(status) {
  const node = $('kernel-status');
  node.textContent = status;
  node.dataset.status = status;
}

function selectedSpec() {
  return state.specs[$('kernel-select').value];
}

async function startKernel(name) {
  const old = state.kernel;
  state.kernel = null;
  if (old) {
    old.dispose();
    await kernels.shutdown(old.id).catch(() => {});
  }
  setStatus('starting');
  const kernel = await kernels.startNew({ name });
  kernel.statusChanged.connect((_, status) => { if (state.kernel === kernel) setStatus(status); });
  kernel.connectionStatusChanged.connect((_, status) => {
    if (state.kernel === kernel && status !== 'connected') setStatus(status);
  });
  state.kernel = kernel;
  setStatus(kernel.status);
  await kernel.info;
  return kernel;
}

async function ensureKernel() {
  if (state.kernel && !state.kernel.isDisposed) return state.kernel;
  return startKernel($('kernel-select').value);
}

function focusCell(cell) {
  cell.view.focus();
  cell.node.scrollIntoView({ block: 'nearest' });
}

function setPrompt(cell, count) {
  cell.prompt.textContent = cell.type === 'code' ? `[${count === null || count === undefined ? ' ' : count}]:` : '';
}

async function runCell(cell) {
  if (cell.type !== 'code') return;
  const code = cell.view.state.doc.toString();
  let kernel;
  try {
    kernel = await ensureKernel();
  } catch (error) {
    say(`Could not start the kernel: ${error.message}`, 'error');
    return;
  }
  cell.area.model.clear();
  cell.area.model.trusted = true;
  cell.prompt.textContent = '[*]:';
  const future = kernel.requestExecute({ code, stop_on_error: true });
  cell.area.future = future;
  try {
    const reply = await future.done;
    cell.executionCount = reply.content.execution_count;
    setPrompt(cell, cell.executionCount);
  } catch {
    // The kernel restarted or went away before replying.
    setPrompt(cell, null);
  }
}

// An nbformat cell id. crypto.randomUUID exists only in secure contexts
// (HTTPS or localhost); the page is also served over plain HTTP inside a
// cluster, where getRandomValues is still there.
function cellId() {
  return Array.from(crypto.getRandomValues(new Uint8Array(4)), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

function addCell({ source = '', type = 'code', outputs = [], executionCount = null, trusted = true, after = null } = {}) {
  const node = document.createElement('div');
  node.className = 'rdf-cell';
  node.dataset.type = type;
  node.dataset.testid = 'cell';
  const input = document.createElement('div');
  input.className = 'rdf-input';
  const prompt = document.createElement('div');
  prompt.className = 'rdf-prompt';
  prompt.dataset.typeLabel = type;
  const editorHost = document.createElement('div');
  editorHost.className = 'rdf-editor';
  const tools = document.createElement('div');
  tools.className = 'rdf-cell-tools';
  const run = document.createElement('button');
  run.type = 'button';
  run.textContent = '▶';
  run.title = 'Run (Shift+Enter)';
  run.dataset.testid = 'run';
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.textContent = '✕';
  remove.title = 'Delete the cell';
  tools.append(run, remove);
  input.append(prompt, editorHost, tools);
  const outputHost = document.createElement('div');
  outputHost.className = 'rdf-output';
  outputHost.dataset.testid = 'output';
  node.append(input, outputHost);

  const cell = { node, prompt, type, executionCount, metadata: {}, id: cellId() };
  const runKeys = Prec.highest(keymap.of([
    { key: 'Shift-Enter', run: () => { runCell(cell); focusCell(nextCell(cell)); return true; } },
    { key: 'Mod-Enter', run: () => { runCell(cell); return true; } },
  ]));
  cell.view = new EditorView({
    doc: source,
    extensions: [runKeys, basicSetup, type === 'code' ? python() : []],
    parent: editorHost,
  });
  setPrompt(cell, executionCount);
  run.addEventListener('click', () => runCell(cell));
  remove.addEventListener('click', () => removeCell(cell));

  const index = after ? state.cells.indexOf(after) + 1 : state.cells.length;
  state.cells.splice(index, 0, cell);
  $('cells').insertBefore(node, state.cells[index + 1]?.node || null);
  // A widget attaches only to a node that is in the document.
  cell.area = new OutputArea({ model: new OutputAreaModel({ values: outputs, trusted }), rendermime });
  Widget.attach(cell.area, outputHost);
  return cell;
}

function removeCell(cell) {
  state.cells.splice(state.cells.indexOf(cell), 1);
  cell.area.dispose();
  cell.view.destroy();
  cell.node.remove();
}

function nextCell(cell) {
  return state.cells[state.cells.indexOf(cell) + 1] || addCell({ after: cell });
}

function clearCells() {
  for (const cell of [...state.cells]) removeCell(cell);
}

// nbformat 4: what JupyterLab writes, so the file opens there too.
function toNotebook() {
  const spec = selectedSpec();
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: spec ? {
      kernelspec: { name: spec.name, display_name: spec.display_name, language: spec.language },
      language_info: { name: spec.language },
    } : {},
    cells: state.cells.map((cell) => {
      const base = { cell_type: cell.type, id: cell.id, metadata: cell.metadata, source: cell.view.state.doc.toString() };
      return cell.type === 'code'
        ? { ...base, execution_count: cell.executionCount ?? null, outputs: cell.area.model.toJSON() }
        : base;
    }),
  };
}

function joinSource(source) {
  return Array.isArray(source) ? source.join('') : source || '';
}

async function save() {
  const path = $('path').value.trim();
  if (!path.endsWith('.ipynb')) { say('The notebook path must end in .ipynb', 'error'); return; }
  try {
    const model = await contents.save(path, { type: 'notebook', format: 'json', content: toNotebook() });
    say(`Saved ${model.path} (${new Date(model.last_modified).toLocaleTimeString()})`);
  } catch (error) {
    say(`Could not save ${path}: ${error.message}`, 'error');
  }
}

async function open() {
  const path = $('path').value.trim();
  let model;
  try {
    model = await contents.get(path, { type: 'notebook', content: true });
  } catch (error) {
    say(`Could not open ${path}: ${error.message}`, 'error');
    return;
  }
  clearCells();
  for (const cell of model.content.cells || []) {
    const added = addCell({
      source: joinSource(cell.source),
      type: cell.cell_type,
      outputs: cell.outputs || [],
      executionCount: cell.execution_count ?? null,
      trusted: false,
    });
    if (cell.id) added.id = cell.id;
    added.metadata = cell.metadata || {};
  }
  if (!state.cells.length) addCell();
  const wanted = model.content.metadata?.kernelspec?.name;
  if (wanted && state.specs[wanted] && wanted !== $('kernel-select').value) {
    $('kernel-select').value = wanted;
    if (state.kernel) await startKernel(wanted);
  }
  say(`Opened ${model.path}`);
  const params = new URLSearchParams(window.location.search);
  params.set('path', model.path);
  window.history.replaceState(null, '', `?${params}`);
}

async function loadSpecs() {
  const specs = await kernelSpecs.ready.then(() => kernelSpecs.specs);
  state.specs = specs.kernelspecs;
  const select = $('kernel-select');
  select.replaceChildren(...Object.values(state.specs)
    .sort((a, b) => a.display_name.localeCompare(b.display_name))
    .map((spec) => new Option(spec.display_name, spec.name)));
  select.value = specs.default in state.specs ? specs.default : select.options[0]?.value;
  select.disabled = false;
}

function wireToolbar() {
  $('kernel-select').addEventListener('change', async () => {
    if (!state.kernel) return;
    try {
      await startKernel($('kernel-select').value);
      say(`Started ${selectedSpec().display_name}`);
    } catch (error) {
      say(`Could not start the kernel: ${error.message}`, 'error');
    }
  });
  $('interrupt').addEventListener('click', async () => {
    if (state.kernel) await state.kernel.interrupt().catch((error) => say(`Interrupt failed: ${error.message}`, 'error'));
  });
  $('restart').addEventListener('click', async () => {
    if (!state.kernel) { await ensureKernel().catch((error) => say(error.message, 'error')); return; }
    try {
      setStatus('restarting');
      await state.kernel.restart();
      for (const cell of state.cells) if (cell.prompt.textContent === '[*]:') setPrompt(cell, null);
      say('Kernel restarted');
    } catch (error) {
      say(`Restart failed: ${error.message}`, 'error');
    }
  });
  $('save').addEventListener('click', save);
  $('open').addEventListener('click', open);
  $('add-cell').addEventListener('click', () => focusCell(addCell({ after: state.cells[state.cells.length - 1] })));
  $('logout').href = `${basePath}logout`;
  document.addEventListener('keydown', (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === 's') { event.preventDefault(); save(); }
  });
}

async function main() {
  wireToolbar();
  state.user = await whoAmI();
  if (!state.user) return;
  $('user').textContent = state.user.display_name || state.user.name || state.user.username;
  kernelSpecs = new KernelSpecManager({ serverSettings: settings });
  kernels = new KernelManager({ serverSettings: settings });
  contents = new ContentsManager({ serverSettings: settings });
  await loadSpecs();
  const path = new URLSearchParams(window.location.search).get('path');
  if (path) {
    $('path').value = path;
    await open();
  } else {
    addCell();
  }
  document.body.dataset.ready = 'true';
}

main().catch((error) => say(`Could not load: ${error.message}`, 'error'));

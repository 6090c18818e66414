// The page: seal the wallet's keys in the browser, submit, show progress from the event stream, download
// with resume, verify, decompress and open the wallet file, show balance and outputs. Keys and password
// never leave the page unsealed. A test (tests/web_client.rs) passes a wallet with `#config=<url>` and
// gets the outcome POSTed to the config's `report` URL.

import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { Api } from './api.js';
import { sealSubmission } from './seal.js';
import { openWallet } from './wallet.js';

const $ = (id) => document.getElementById(id);

function showState(text) {
  $('state').textContent = text;
}

function showProgress(percent) {
  $('progress').value = percent;
}

async function sync(server, wallet, { interruptAfter = null } = {}) {
  const api = new Api(server);
  showState('sealing');
  const serverKey = await api.serverKey();
  const { body, token } = sealSubmission(serverKey, wallet);
  const job = await api.submit(body);
  showState(`queued (position ${job.queue_position ?? '?'})`);
  const end = await api.follow(job, token, (name, data) => {
    if (name === 'queued') showState(`queued (position ${data.position})`);
    if (name === 'progress') {
      showState(`scanning: block ${data.blocks_done} of ${data.blocks_total}`);
      showProgress(data.percent ?? 0);
    }
  });
  if (end.name === 'failed') throw new Error(`the job failed: ${end.data.code}: ${end.data.message}`);
  const ready = end.data;
  showProgress(100);
  showState('downloading');
  const { file, resumedFrom } = await api.download(ready.download_url, token, {
    expectedSize: ready.size,
    interruptAfter,
    onProgress: (have, total) => total && showState(`downloading: ${have} of ${total} bytes`),
  });
  if (bytesToHex(sha256(file)) !== ready.sha256) throw new Error('the download does not match its SHA-256');
  showState('opening');
  const summary = await openWallet(file, window.initSqlJs, './node_modules/sql.js/dist/');
  return { ...summary, size: file.length, stale: ready.stale, resumedFrom };
}

function show(summary) {
  $('balance').textContent = summary.balance.toLocaleString('en');
  $('unspent').textContent = summary.unspent;
  $('tip').textContent = summary.tip;
  const rows = summary.outputs.map((o) => {
    const row = document.createElement('tr');
    for (const cell of [o.height, o.value.toLocaleString('en'), o.status, o.hash.slice(0, 16) + '…']) {
      const td = document.createElement('td');
      td.textContent = cell;
      row.append(td);
    }
    return row;
  });
  $('outputs').replaceChildren(...rows);
  $('result').hidden = false;
  showState(`ready${summary.stale ? ' (stale: the server was behind its node)' : ''}`);
}

/** Bytes of script and wasm the page loaded (same-origin resources report their body sizes). */
function scriptBytes() {
  return performance
    .getEntriesByType('resource')
    .filter((r) => /\.(m?js|wasm)(\?|$)/.test(r.name))
    .reduce((sum, r) => sum + (r.decodedBodySize || r.encodedBodySize || 0), 0);
}

async function run(server, wallet, report, options) {
  $('error').textContent = '';
  try {
    const summary = await sync(server, wallet, options);
    show(summary);
    const shownMs = performance.now();
    await report?.({ ok: true, balance: summary.balance, unspent: summary.unspent, outputs: summary.outputs.length,
      tip: summary.tip, size: summary.size, resumed_from: summary.resumedFrom, shown_ms: shownMs,
      script_bytes: scriptBytes() });
  } catch (error) {
    $('error').textContent = String(error.message ?? error);
    showState('failed');
    await report?.({ ok: false, error: String(error.message ?? error), code: error.code ?? null });
  }
}

$('form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const wallet = {
    view_key: form.get('view_key').trim(),
    spend_public_key: form.get('spend_public_key').trim(),
    birthday: Number(form.get('birthday')),
    password: form.get('password'),
  };
  run(form.get('server').trim(), wallet);
});

// `#config=<url>`: a JSON { server, wallet: { view_key, spend_public_key, birthday, password }, report,
// interrupt_after }: a test's wallet, where to POST the outcome, and where to break the download off.
const configUrl = new URLSearchParams(location.hash.slice(1)).get('config');
if (configUrl) {
  const config = await (await fetch(configUrl)).json();
  const report = config.report
    ? (outcome) => fetch(config.report, { method: 'POST', body: JSON.stringify(outcome) })
    : null;
  run(config.server, config.wallet, report, { interruptAfter: config.interrupt_after ?? null });
}

// Adding photos by URL (POST /photos) and deleting one (DELETE /photos/{uuid}). Loaded after
// app.js, whose functions and state it uses ($, api, state, refresh, notice, handleError, …).
'use strict';

const MAX_URL_LENGTH = 2048; // as the API checks (api/validation.py check_photo_url)
const MAX_POST_BYTES = 3 * 1024 * 1024; // POST /photos's body (MAX_NEW_PHOTOS_BODY_BYTES)

// What is wrong with one line as a photo URL, or null. The API checks again and has the last
// word (its 400 names the item, shown against its line); this only lists every bad line at once.
function urlProblem(text) {
  if (text.length > MAX_URL_LENGTH) return `longer than ${MAX_URL_LENGTH} characters`;
  if (/[\u0000-\u0020\u007f]/.test(text)) return 'holds a space or a control character';
  let url;
  try {
    url = new URL(text);
  } catch {
    return 'not an absolute URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'not an http or https URL';
  return url.hostname ? null : 'no host';
}

function showAddErrors(messages) {
  const list = $('add-errors');
  list.replaceChildren(
    ...messages.map((text) => {
      const item = document.createElement('li');
      item.textContent = text;
      return item;
    }),
  );
  list.hidden = messages.length === 0;
}

// A random Idempotency-Key (crypto.randomUUID needs a secure context; this does not).
const newKey = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');

// The Idempotency-Key of each part of the last text sent, by the part's own text: sending again
// after a failure (a 503, a lost answer, a line fixed after a 400) reuses the key of every part
// whose text did not change, so nothing is created twice. `done`: the part was answered 201, so
// it is not sent again. Cleared once the whole text went through.
let addKeys = new Map();

// The URLs cut into the bodies of POST /photos: at most MAX_POST items and MAX_POST_BYTES
// bytes of JSON each (a URL of non-ASCII characters weighs up to 3 bytes a character).
function splitParts(urls) {
  const encoder = new TextEncoder();
  const parts = [];
  let part = [];
  let size = 2; // the array's brackets
  for (const line of urls) {
    const bytes = encoder.encode(JSON.stringify({ url: line.text })).length + 1; // and a comma
    if (part.length && (part.length === MAX_POST || size + bytes > MAX_POST_BYTES)) {
      parts.push(part);
      part = [];
      size = 2;
    }
    part.push(line);
    size += bytes;
  }
  if (part.length) parts.push(part);
  return parts;
}

// The photos queued join the batch the page follows, as with "Process selected".
function trackQueued(photoIds) {
  for (const uuid of photoIds || []) {
    if (!state.batch.outstanding.has(uuid)) state.batch.sent += 1;
    state.batch.outstanding.set(uuid, { status: 'pending', attempts: 0 });
  }
  return (photoIds || []).length;
}

async function addPhotos(event) {
  event.preventDefault();
  if (state.busy) return;
  const lines = $('add-urls').value.split(/\r?\n/).map((text, i) => ({ text: text.trim(), number: i + 1 }));
  const urls = lines.filter((line) => line.text);
  const bad = urls.map((line) => [line, urlProblem(line.text)]).filter(([, problem]) => problem);
  if (urls.length === 0) return showAddErrors(['Paste one or more photo URLs, one per line.']);
  if (bad.length) return showAddErrors(bad.map(([line, problem]) => `Line ${line.number}: ${problem}: ${line.text}`));
  showAddErrors([]);
  const process = $('add-process').checked;
  // A part is known by its place, the process option and its lines (two equal parts are two).
  const parts = splitParts(urls).map((lines, index) => {
    return { lines, text: [index, process, ...lines.map((line) => line.text)].join('\n') };
  });
  addKeys = new Map(parts.map(({ text }) => [text, addKeys.get(text) || { key: newKey(), done: false }]));
  state.busy = true;
  renderSelection();
  clearBanner('action');
  const tally = { added: 0, queued: 0 };
  try {
    if (process && state.batch.outstanding.size === 0) {
      state.batch = newBatch();
      state.batch.since = (await api('/stats')).body.now;
    }
    for (const { lines, text } of parts) {
      const sent = addKeys.get(text);
      if (sent.done) continue; // created by an earlier send of this text
      await addPart(lines, process, sent.key, tally).catch((error) => {
        error.part = lines; // the 400's item index counts from the part's first line
        throw error;
      });
      sent.done = true;
    }
    $('add-urls').value = '';
    addKeys = new Map();
  } catch (error) {
    const item = error.status === 400 && /^Item (\d+):? /.exec(error.body.description || '');
    const line = item && error.part && error.part[Number(item[1])];
    if (line) showAddErrors([`Line ${line.number}: ${error.body.description.slice(item[0].length)}`]);
    else handleError(error, 'action');
  } finally {
    notice(`Added ${tally.added} photo(s)` + (process ? `, queued ${tally.queued}.` : '.'));
    state.busy = false;
    renderSelection();
    renderBatch();
    refresh();
  }
}

// One POST of a part's URLs. A 503 with `photos` created them all the same.
async function addPart(part, process, key, tally) {
  let body;
  try {
    ({ body } = await api(`/photos${process ? '?process=true' : ''}`, {
      method: 'POST',
      body: JSON.stringify(part.map((line) => ({ url: line.text }))),
      headers: { 'Idempotency-Key': key },
    }));
  } catch (error) {
    if (Array.isArray(error.body && error.body.photos)) {
      tally.added += error.body.photos.length;
      tally.queued += trackQueued(error.body.queued);
    }
    throw error;
  }
  tally.added += body.photos.length;
  tally.queued += trackQueued(body.queued);
}

async function deletePhoto(button) {
  const card = button.closest('.card');
  const uuid = card.dataset.uuid;
  if (!window.confirm(`Delete photo ${uuid} and its thumbnail? This cannot be undone.`)) return;
  button.disabled = true;
  try {
    await api(`/photos/${uuid}`, { method: 'DELETE' });
    notice(`Deleted photo ${uuid.slice(0, 8)}.`);
    releaseCard(card);
    card.remove();
  } catch (error) {
    if (error.status === 404) notice(`Photo ${uuid.slice(0, 8)} was already deleted.`);
    else handleError(error, 'action'); // 409: a worker is processing it now
  } finally {
    state.selected.delete(uuid);
    button.disabled = false;
    refresh();
  }
}

$('add-form').addEventListener('submit', addPhotos);
$('grid').addEventListener('click', (event) => {
  const button = event.target.closest('button.delete');
  if (button) deletePhoto(button);
});

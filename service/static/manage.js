// Adding photos by URL (POST /photos) and deleting one (DELETE /photos/{uuid}). Loaded after
// app.js, whose functions and state it uses ($, api, state, refresh, notice, handleError, …).
'use strict';

const MAX_URL_LENGTH = 2048; // as the API checks (service/validation.py check_photo_url)

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

// The keys of the last text sent, one per request of up to MAX_POST lines: sending the same
// text again after a failure (a 503, a lost answer) reuses them, so nothing is created twice.
let addKeys = { signature: null, keys: [] };

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
  const signature = `${process}\n${urls.map((line) => line.text).join('\n')}`;
  if (addKeys.signature !== signature) addKeys = { signature, keys: [] };
  state.busy = true;
  renderSelection();
  clearBanner('action');
  const tally = { added: 0, queued: 0 };
  try {
    if (process && state.batch.outstanding.size === 0) {
      state.batch = newBatch();
      state.batch.since = (await api('/stats')).body.now;
    }
    for (let start = 0; start < urls.length; start += MAX_POST) {
      const part = urls.slice(start, start + MAX_POST);
      const index = start / MAX_POST;
      addKeys.keys[index] = addKeys.keys[index] || newKey();
      await addPart(part, process, addKeys.keys[index], tally).catch((error) => {
        error.offset = start; // the 400's item index counts from the part's first line
        throw error;
      });
    }
    $('add-urls').value = '';
    addKeys = { signature: null, keys: [] };
  } catch (error) {
    const item = error.status === 400 && /^Item (\d+):? /.exec(error.body.description || '');
    const line = item && urls[(error.offset || 0) + Number(item[1])];
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

// One POST of up to MAX_POST URLs. A 503 with `photos` created them all the same.
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

// The photo-processor dashboard: plain JavaScript, no build step, no dependencies. Everything it
// shows comes from the same-origin JSON API (/stats, /photos, /photos/{uuid}, /photos/process);
// adding and deleting photos is in manage.js, which uses what this file defines.
'use strict';

const FAST_POLL_MS = 1500; // while a batch is in flight: a photo takes well under a second
const SLOW_POLL_MS = 5000; // otherwise, still live (other clients and workers change things)
const MAX_POST = 1000; // POST /photos/process takes at most 1000 UUIDs
const PER_PHOTO_LIMIT = 20; // batches up to this size are tracked photo by photo (see trackBatch)
const TOKEN_KEY = 'photo-processor-token';
const STATUSES = ['pending', 'processing', 'completed', 'failed'];
const BADGES = { pending: '○ Pending', processing: '◔ Processing', completed: '✓ Completed', failed: '✕ Failed' };
const PLACEHOLDERS = { pending: 'Not processed yet', processing: 'Processing…', completed: 'No thumbnail', failed: 'No thumbnail' };

const $ = (id) => document.getElementById(id);

const state = {
  // sessionStorage, not localStorage: the token lives as long as the tab, not on the disk for good.
  token: sessionStorage.getItem(TOKEN_KEY) || '',
  needsToken: false,
  filter: '',
  limit: 48,
  cursors: [null], // the cursor of every page visited so far ("Previous" walks back along it)
  page: 0,
  next: null, // the next page's cursor, from the Link header
  photos: [],
  counts: null,
  selected: new Map(), // uuid -> the photo as it was when selected (see trackBatch)
  batch: newBatch(),
  busy: false, // an action is posting photos
};

function newBatch() {
  // outstanding: uuid -> {status, attempts} of each queued photo before it was sent, until done.
  // since: the server's clock when the batch began; progress: what /stats?since= last said.
  return { sent: 0, outstanding: new Map(), since: null, progress: null };
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.title) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

const authHeaders = () => (state.token ? { Authorization: `Bearer ${state.token}` } : {});

// One call to the API: the parsed JSON and the next page's cursor, or an ApiError carrying the
// API's {title, description} (status 0 when the API cannot be reached at all).
async function api(path, options = {}) {
  const headers = { Accept: 'application/json', ...authHeaders(), ...options.headers };
  if (options.body) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, { ...options, headers, cache: 'no-store' });
  } catch (error) {
    throw new ApiError(0, { title: 'Cannot reach the API', description: String(error.message || error) });
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  const link = /<([^>]*)>\s*;\s*rel="?next"?/.exec(response.headers.get('Link') || '');
  return { body, next: link ? new URL(link[1], location.href).searchParams.get('cursor') : null };
}

function photosPath(status, limit, cursor) {
  const params = new URLSearchParams({ limit: String(limit) });
  if (status) params.set('status', status);
  if (cursor) params.set('cursor', cursor);
  return `/photos?${params}`;
}

// Every photo in `status`, 1000 at a time, following the Link header; `each` gets each page.
async function eachPage(status, each) {
  let cursor = null;
  do {
    const { body, next } = await api(photosPath(status, MAX_POST, cursor));
    await each(body);
    cursor = next;
  } while (cursor);
}

// ---- Rendering --------------------------------------------------------------------------------
function renderCounts() {
  for (const key of [...STATUSES, 'total']) {
    const n = state.counts && (key === 'total' ? state.counts.total : state.counts.counts[key]);
    $(`count-${key}`).textContent = state.counts ? n.toLocaleString() : '–';
  }
  // Each lane's backlog and what it finished in the last minute (api/lane_stats.py).
  for (const lane of ['new', 'rerender']) {
    const shown = state.counts && state.counts.lanes[lane];
    $(`lane-${lane}-backlog`).textContent = shown ? shown.backlog.toLocaleString() : '–';
    $(`lane-${lane}-rate`).textContent = shown ? shown.per_minute.toLocaleString() : '–';
  }
}

// Cards are kept and updated in place, keyed by UUID, so that polling neither reloads the
// images nor takes the keyboard focus away from a checkbox.
function renderPhotos() {
  const grid = $('grid');
  const existing = new Map([...grid.children].map((card) => [card.dataset.uuid, card]));
  const cards = state.photos.map((photo) => updateCard(existing.get(photo.uuid) || newCard(photo), photo));
  if (cards.length !== grid.children.length || cards.some((card, i) => grid.children[i] !== card)) {
    grid.replaceChildren(...cards);
  }
  for (const card of existing.values()) if (!cards.includes(card)) releaseCard(card);
  if (state.token) forgetBlobs();
  $('empty').hidden = state.photos.length > 0;
  $('prev').disabled = state.page === 0;
  $('next').disabled = !state.next;
  $('page-label').textContent = `Page ${state.page + 1}`;
  renderSelection();
}

// A card's image is shown within this box (CSS px): style.css's .thumb-box is 160 px high and
// the grid's columns at least 240 px wide. Its width is the `sizes` of the card's <picture>.
const CARD_BOX = { width: 240, height: 160 };

// A card leaving the page lets go of its placeholder's blob: URL.
const releaseCard = (card) => clearPicture(card.querySelector('.thumb'));

function newCard(photo) {
  const card = $('card-template').content.firstElementChild.cloneNode(true);
  card.dataset.uuid = photo.uuid;
  card.querySelector('.uuid').textContent = photo.uuid.slice(0, 8);
  card.querySelector('.uuid').title = photo.uuid;
  card.querySelector('.select').setAttribute('aria-label', `Select photo ${photo.uuid}`);
  card.querySelector('.delete').setAttribute('aria-label', `Delete photo ${photo.uuid}`);
  card.querySelector('.details').setAttribute('aria-label', `Details of photo ${photo.uuid}`);
  const host = card.querySelector('.host');
  try {
    host.textContent = new URL(photo.url).host;
  } catch {
    host.textContent = photo.url; // not a URL the browser understands: show it as it is
  }
  host.title = photo.url;
  return card;
}

function updateCard(card, photo) {
  card.dataset.status = photo.status;
  const badge = card.querySelector('.badge');
  badge.className = `badge ${photo.status}`;
  badge.textContent = BADGES[photo.status] || photo.status;
  const checkbox = card.querySelector('.select');
  checkbox.disabled = !eligible(photo);
  checkbox.checked = state.selected.has(photo.uuid);
  const reason = card.querySelector('.reason');
  reason.hidden = !photo.failure_reason;
  reason.textContent = photo.failure_reason || '';
  const img = card.querySelector('.thumb');
  const shown = (photo.renditions || []).length > 0;
  card.querySelector('.placeholder').textContent = shown ? '' : PLACEHOLDERS[photo.status] || '';
  img.alt = shown ? `Thumbnail of ${photo.url}` : '';
  showPicture(img, photo, CARD_BOX);
  return card;
}

// Only pending and failed photos are queued; the API skips the others, so they cannot be picked.
const eligible = (photo) => photo.status === 'pending' || photo.status === 'failed';

function renderSelection() {
  const pickable = state.photos.filter(eligible);
  $('select-page').checked = pickable.length > 0 && pickable.every((p) => state.selected.has(p.uuid));
  $('select-page').disabled = state.busy || pickable.length === 0;
  $('process-selected').textContent = `Process selected (${state.selected.size})`;
  $('process-selected').disabled = state.busy || state.selected.size === 0;
  // Nothing to send is not an error, but a button that would do nothing is better greyed out.
  $('process-pending').disabled = state.busy || (state.counts && state.counts.counts.pending === 0);
  $('retry-failed').disabled = state.busy || (state.counts && state.counts.counts.failed === 0);
}

function renderBatch() {
  const { sent, outstanding, progress } = state.batch;
  // A large batch counts what the API says of every photo queued since it began (others' too).
  const total = progress && outstanding.size ? Math.max(progress.queued, sent) : sent;
  const done = progress && outstanding.size ? Math.min(progress.done, total) : sent - outstanding.size;
  $('batch').hidden = sent === 0;
  $('batch-progress').max = Math.max(total, 1);
  $('batch-progress').value = done;
  $('batch-text').textContent = `${done.toLocaleString()} of ${total.toLocaleString()} done${outstanding.size ? '' : ' — finished'}`;
}

function showBanner(error, source) {
  const body = error.body;
  let text = body.description || '';
  if (Array.isArray(body.queued) && Array.isArray(body.not_queued)) {
    text += ` ${body.queued.length} photo(s) were queued, ${body.not_queued.length} were not: sending them again is harmless.`;
  }
  $('banner-title').textContent = body.title || error.message;
  $('banner-text').textContent = text;
  $('banner').dataset.source = source;
  $('banner').hidden = false;
}

// A banner from polling goes once polling succeeds again; one from an action stays until dismissed.
function clearBanner(source) {
  if (!source || $('banner').dataset.source === source) $('banner').hidden = true;
}

function handleError(error, source) {
  if (error.status === 401) {
    $('token-error').hidden = !state.token; // a token was sent, and refused
    state.needsToken = true;
    $('token-form').hidden = false;
    $('token-input').focus();
    clearBanner();
    return;
  }
  if (!(error instanceof ApiError)) console.error(error);
  showBanner(error instanceof ApiError ? error : new ApiError(0, { title: String(error) }), source);
}

const notice = (text) => ($('notice').textContent = text);

// ---- Refreshing -------------------------------------------------------------------------------
// One refresh at a time: asking during one makes it run once more at its end, then the timer
// takes over, fast while a batch is in flight.
let refreshing = null;
let again = false;
let timer = null;

function refresh() {
  clearTimeout(timer);
  if (refreshing) return (again = true);
  refreshing = refreshOnce().finally(() => {
    refreshing = null;
    if (again) {
      again = false;
      refresh();
    } else if (!state.needsToken) {
      timer = setTimeout(refresh, state.busy || state.batch.outstanding.size ? FAST_POLL_MS : SLOW_POLL_MS);
    }
  });
}

async function refreshOnce() {
  if (state.needsToken) return;
  try {
    const [stats, page] = await Promise.all([
      api('/stats'),
      api(photosPath(state.filter, state.limit, state.cursors[state.page])),
    ]);
    Object.assign(state, { counts: stats.body, photos: page.body, next: page.next });
    renderCounts();
    renderPhotos();
    await trackBatch();
    renderBatch();
    clearBanner('poll');
    $('forget-token').hidden = !state.token;
    $('updated').textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    handleError(error, 'poll');
  }
}

// A queued photo is done once it is completed or failed *after* it was sent. A failed photo sent
// again stays "failed" until a worker claims it, and a claim counts one more attempt, so `attempts`
// tells its new outcome from the old one (updated_at would not: queueing touches the row too).
function isDone(before, now) {
  if (!now) return true; // gone from the table
  return (now.status === 'completed' || now.status === 'failed') && now.attempts > before.attempts;
}

async function trackBatch() {
  const { outstanding } = state.batch;
  if (outstanding.size === 0) return;
  const asked = new Map(outstanding); // judged now; a photo queued while we read waits its turn
  const current = new Map();
  if (asked.size <= PER_PHOTO_LIMIT) {
    // A small batch: ask for each photo, however many others wait in the same statuses.
    const one = (uuid) => api(`/photos/${uuid}`).then(({ body }) => current.set(uuid, body), (error) => {
      if (error.status !== 404) throw error;
    });
    await Promise.all([...asked.keys()].map(one));
  } else {
    // A large batch: ask how the photos queued since it began are getting on, rather than list
    // them (100,000 photos would be 100 pages at every poll). It is over once every one of them
    // is done and nothing more is being sent.
    const { body } = await api(`/stats?since=${encodeURIComponent(state.batch.since)}`);
    const { queued, completed, failed } = body.since;
    state.batch.progress = { queued, done: completed + failed };
    if (!state.busy && completed + failed >= queued) outstanding.clear();
    return;
  }
  for (const [uuid, before] of asked) {
    // Unless it was sent again meanwhile, with a newer "before".
    if (outstanding.get(uuid) === before && isDone(before, current.get(uuid))) outstanding.delete(uuid);
  }
}

// ---- Actions ----------------------------------------------------------------------------------
// POST up to MAX_POST photos; the queued ones join the batch, also when the API answers a partial
// 503 (RabbitMQ failed part-way), whose `queued` list were really sent.
async function post(photos, tally) {
  const before = new Map(photos.map((p) => [p.uuid, { status: p.status, attempts: p.attempts }]));
  const track = (queued) => {
    for (const uuid of queued) {
      if (!state.batch.outstanding.has(uuid)) state.batch.sent += 1;
      state.batch.outstanding.set(uuid, before.get(uuid) || { status: 'pending', attempts: 0 });
      state.selected.delete(uuid);
    }
    tally.queued += queued.length;
  };
  let result;
  try {
    result = (await api('/photos/process', { method: 'POST', body: JSON.stringify([...before.keys()]) })).body;
  } catch (error) {
    if (Array.isArray(error.body && error.body.queued)) track(error.body.queued);
    throw error;
  }
  track(result.queued);
  for (const { uuid, reason } of result.skipped) {
    state.selected.delete(uuid);
    tally.skipped[reason] = (tally.skipped[reason] || 0) + 1;
  }
}

// Runs one action: buttons off, a new batch unless one is still in flight, errors in the banner.
async function runAction(work) {
  if (state.busy) return;
  state.busy = true;
  if (state.batch.outstanding.size === 0) state.batch = newBatch();
  const tally = { queued: 0, skipped: {} };
  renderSelection();
  clearBanner('action');
  try {
    if (!state.batch.since) state.batch.since = (await api('/stats')).body.now;
    await work(tally);
  } catch (error) {
    handleError(error, 'action');
  } finally {
    const skipped = Object.entries(tally.skipped).map(([reason, n]) => `${n} ${reason}`);
    notice(`Queued ${tally.queued} photo(s).` + (skipped.length ? ` Skipped: ${skipped.join(', ')}.` : ''));
    state.busy = false;
    renderSelection();
    renderBatch();
    refresh();
  }
}

const processSelected = () =>
  runAction(async (tally) => {
    const photos = [...state.selected.values()];
    for (let i = 0; i < photos.length; i += MAX_POST) await post(photos.slice(i, i + MAX_POST), tally);
  });

// Each page of photos in `status` is posted as it comes. The keyset cursor marks a position, so
// photos leaving `status` meanwhile (the worker is at them already) neither shift nor repeat pages.
const processAll = (status) =>
  runAction(async (tally) => {
    const total = state.counts ? state.counts.counts[status] : 0;
    let seen = 0;
    await eachPage(status, async (photos) => {
      if (photos.length) await post(photos, tally);
      seen += photos.length;
      notice(`Queuing ${status} photos: ${seen.toLocaleString()} of about ${total.toLocaleString()}…`);
      renderBatch();
    });
  });

function setFilter(filter) {
  Object.assign(state, { filter, cursors: [null], page: 0 });
  for (const button of document.querySelectorAll('[data-filter]')) {
    button.setAttribute('aria-pressed', String(button.dataset.filter === filter));
  }
  refresh();
}

function useToken(token) {
  state.token = token;
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
  for (const card of $('grid').children) releaseCard(card);
  $('grid').replaceChildren(); // their images were loaded with the old token
  forgetBlobs(new Set());
  Object.assign(state, { needsToken: false, counts: null, photos: [] });
  renderCounts();
  $('token-form').hidden = true;
  refresh();
}

// ---- Wiring -----------------------------------------------------------------------------------
for (const button of document.querySelectorAll('[data-filter]')) {
  button.addEventListener('click', () => setFilter(button.dataset.filter));
}
$('prev').addEventListener('click', () => {
  state.page = Math.max(0, state.page - 1);
  refresh();
});
$('next').addEventListener('click', () => {
  if (!state.next) return;
  state.cursors[state.page + 1] = state.next;
  state.cursors.length = state.page + 2; // the pages after it may start elsewhere now
  state.page += 1;
  refresh();
});
$('page-size').addEventListener('change', (event) => {
  state.limit = Number(event.target.value);
  setFilter(state.filter); // back to the first page: the cursors were for another page size
});
// One listener for every card's checkbox (cards come and go with each page).
$('grid').addEventListener('change', (event) => {
  const uuid = event.target.closest('.card').dataset.uuid;
  const photo = state.photos.find((p) => p.uuid === uuid);
  if (event.target.checked && photo) state.selected.set(uuid, photo);
  else state.selected.delete(uuid);
  renderSelection();
});
$('select-page').addEventListener('change', (event) => {
  for (const photo of state.photos.filter(eligible)) {
    if (event.target.checked) state.selected.set(photo.uuid, photo);
    else state.selected.delete(photo.uuid);
  }
  renderPhotos();
});
$('process-selected').addEventListener('click', processSelected);
$('process-pending').addEventListener('click', () => processAll('pending'));
$('retry-failed').addEventListener('click', () => processAll('failed'));
$('banner-close').addEventListener('click', () => clearBanner());
$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  useToken($('token-input').value.trim());
});
$('forget-token').addEventListener('click', () => useToken(''));

refresh();

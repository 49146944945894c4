// One photo's details in a modal <dialog>, from GET /photos/{uuid}: a larger image, every
// rendition (each linked), the source's facts and the placeholder. Opened by a card's "Details"
// button or its image; Escape or "Close" closes it and the focus goes back to what opened it.
// Loaded after app.js and pictures.js, whose functions it uses ($, api, state, showPicture, …).
'use strict';

// The larger image fits in this box (CSS px); a rendition is never shown larger than it is.
const DETAIL_BOX = { width: 640, height: 420 };
const ORIENTATIONS = {
  1: 'upright',
  2: 'mirrored',
  3: 'upside down',
  4: 'mirrored, upside down',
  5: 'mirrored, on its side',
  6: 'on its side (turned 90° clockwise to show)',
  7: 'mirrored, on its side',
  8: 'on its side (turned 90° counter-clockwise to show)',
};
const NONE = '—';

let detailsOpener = null; // the element to give the focus back to
let detailsAsked = 0; // which opening an answer belongs to: a late one for another photo is dropped

const element = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};
const bytesText = (n) => (n == null ? NONE : `${n.toLocaleString()} B`);

async function openDetails(uuid, opener) {
  const dialog = $('details');
  const asked = ++detailsAsked;
  detailsOpener = opener;
  $('details-uuid').textContent = uuid;
  $('details-state').textContent = 'Loading…';
  $('details-state').hidden = false;
  $('details-body').hidden = true;
  if (!dialog.open) dialog.showModal();
  let photo;
  try {
    photo = (await api(`/photos/${encodeURIComponent(uuid)}`)).body;
  } catch (error) {
    if (asked !== detailsAsked || !dialog.open) return;
    if (error.status === 401) {
      dialog.close();
      return handleError(error, 'action');
    }
    $('details-state').textContent = error.status === 404 ? 'This photo is gone (deleted).' : `Could not load it: ${error.message}.`;
    return;
  }
  if (asked !== detailsAsked || !dialog.open) return;
  renderDetails(photo);
}

function renderDetails(photo) {
  $('details-badge').className = `badge ${photo.status}`;
  $('details-badge').textContent = BADGES[photo.status] || photo.status;
  $('details-url').textContent = photo.url;
  const renditions = photo.renditions || [];
  const img = $('details-img');
  img.alt = renditions.length ? `Photo ${photo.url}` : '';
  showPicture(img, photo, DETAIL_BOX);
  $('details-renditions').tBodies[0].replaceChildren(...renditions.map(renditionRow));
  if (!renditions.length) {
    const empty = element('td', { colSpan: 5, className: 'muted', textContent: 'None yet: the photo is not completed.' });
    $('details-renditions').tBodies[0].append(element('tr', {}, empty));
  }
  renderFacts(photo.facts);
  renderSwatches(photo.placeholder);
  $('details-state').hidden = true;
  $('details-body').hidden = false;
}

function renditionRow(r) {
  const file = r.url.split('/').pop();
  const link = element('a', { href: r.href, target: '_blank', rel: 'noopener', textContent: file });
  link.dataset.href = r.href;
  link.title = r.href;
  const cells = [r.preset, r.media_type || r.format, `${r.width} × ${r.height}`, bytesText(r.bytes)];
  const row = element('tr', {}, ...cells.map((text) => element('td', { textContent: text })), element('td', {}, link));
  row.dataset.preset = r.preset;
  row.dataset.format = r.format;
  row.cells[3].className = 'number';
  return row;
}

function renderFacts(facts) {
  const list = $('details-facts');
  if (!facts) {
    list.replaceChildren(element('div', { className: 'muted', textContent: 'Not known: the photo is not completed, or was completed before renditions.' }));
    return;
  }
  const orientation = facts.orientation == null ? NONE : `${facts.orientation} (${ORIENTATIONS[facts.orientation] || 'unknown'})`;
  const rows = [
    ['size', 'Size', facts.width && facts.height ? `${facts.width} × ${facts.height}` : NONE],
    ['format', 'Format', facts.format || NONE],
    ['bytes', 'Bytes', bytesText(facts.bytes)],
    ['has_alpha', 'Transparency', facts.has_alpha == null ? NONE : facts.has_alpha ? 'yes' : 'no'],
    ['orientation', 'Orientation', orientation],
    ['taken_at', 'Taken at', facts.taken_at || NONE],
    ['camera_make', 'Camera make', facts.camera_make || NONE],
    ['camera_model', 'Camera model', facts.camera_model || NONE],
  ];
  list.replaceChildren(
    ...rows.map(([key, label, value]) => {
      const row = element('div', {}, element('dt', { textContent: label }), element('dd', { textContent: value }));
      row.dataset.fact = key;
      return row;
    }),
  );
}

// The placeholder as the page paints it: the ThumbHash image and the dominant colour.
function renderSwatches(placeholder) {
  const box = $('details-placeholder');
  releaseSwatches();
  if (!placeholder) return box.replaceChildren(element('span', { className: 'muted', textContent: 'None.' }));
  const parts = [];
  if (placeholder.thumbhash) {
    const hash = element('img', { className: 'swatch-hash', alt: 'The ThumbHash placeholder, decoded' });
    try {
      hash.src = thumbHashToBlobURL(placeholder.thumbhash);
      hash.height = 64;
      hash.width = Math.round(64 * thumbHashToApproximateAspectRatio(thumbHashBytes(placeholder.thumbhash)));
      parts.push(element('figure', {}, hash, element('figcaption', {}, element('code', { textContent: placeholder.thumbhash }))));
    } catch (error) {
      console.warn('The photo placeholder could not be decoded.', error);
    }
  }
  if (placeholder.color) {
    const chip = element('span', { className: 'swatch-color' });
    chip.style.backgroundColor = placeholder.color;
    parts.push(element('figure', {}, chip, element('figcaption', {}, element('code', { textContent: placeholder.color }))));
  }
  box.replaceChildren(...parts);
}

function releaseSwatches() {
  for (const img of $('details-placeholder').querySelectorAll('img')) URL.revokeObjectURL(img.src);
}

// ---- Wiring -----------------------------------------------------------------------------------
$('grid').addEventListener('click', (event) => {
  const card = event.target.closest('.card');
  const button = event.target.closest('button.details');
  if (button) openDetails(card.dataset.uuid, button);
  // The image opens them too, for the mouse; the button is the keyboard's way (one stop per card).
  else if (event.target.closest('.thumb-box')) openDetails(card.dataset.uuid, card.querySelector('button.details'));
});
$('details-close').addEventListener('click', () => $('details').close());
// A click on the backdrop (outside the dialog's box) closes it too.
$('details').addEventListener('click', (event) => {
  const box = $('details').getBoundingClientRect();
  const { clientX: x, clientY: y } = event;
  if (event.target === $('details') && (x < box.left || x > box.right || y < box.top || y > box.bottom)) $('details').close();
});
$('details').addEventListener('close', () => {
  detailsAsked += 1; // an answer still on its way is for a closed dialog
  clearPicture($('details-img'));
  releaseSwatches();
  $('details-placeholder').replaceChildren();
  if (state.token) forgetBlobs();
  if (detailsOpener && detailsOpener.isConnected) detailsOpener.focus();
  detailsOpener = null;
});
// With a token a link cannot send the header either: fetch the file with it and open the blob.
$('details-renditions').addEventListener('click', (event) => {
  const link = event.target.closest('a[data-href]');
  if (!link || !state.token) return;
  event.preventDefault();
  const opened = window.open('', '_blank'); // now, while the click still allows a new tab
  thumbnailSource(link.dataset.href).then(
    (url) => (opened ? (opened.location.href = url) : (location.href = url)),
    (error) => {
      if (opened) opened.close();
      showBanner(new ApiError(0, { title: 'Cannot open the rendition', description: String(error.message) }), 'action');
    },
  );
});

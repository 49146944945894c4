// How a photo's image is shown, in a card and in the details: its placeholder first (the
// ThumbHash as the <img>'s background, over its dominant colour), then a rendition on top.
// Without a token the browser picks the rendition itself from a <picture>: a <source> per extra
// format (AVIF, WebP), the base format (JPEG, or PNG for transparency) in the <img srcset>. With
// one, an <img> cannot send the Authorization header, so pickRendition picks what the browser
// would, and it is fetched with the header and shown through a blob: URL.
// Loaded after thumbhash.js and before app.js, whose `state` and `authHeaders` it uses when called.
'use strict';

// The formats offered before the base format, best first: the browser takes the first <source>
// whose type it reads, so AVIF (the smallest at large sizes) goes before WebP.
const EXTRA_FORMATS = ['avif', 'webp'];
// One pixel in each, made by Pillow: decoding them tells the token path what this browser reads
// (a <picture> knows it itself). createImageBitmap fetches nothing, so the CSP has no say in it.
const PROBES = {
  avif:
    'AAAAIGZ0eXBhdmlmAAAAAGF2aWZtaWYxbWlhZk1BMUIAAADrbWV0YQAAAAAAAAAhaGRscgAAAAAAAAAAcGljdAAAAAAAAAAAAAAAAAAAAAAOcGl0bQAAAAAAAQAAAB5pbG9jAAAAAEQAAAEAAQAAAAEAAAETAAAAJQAAAChpaW5mAAAAAAABAAAAGmluZmUCAAAAAAEAAGF2MDFDb2xvcgAAAABqaXBycAAAAEtpcGNvAAAAFGlzcGUAAAAAAAAAAQAAAAEAAAAQcGl4aQAAAAADCAgIAAAADGF2MUOBAAwAAAAAE2NvbHJuY2x4AAEADQAGgAAAABdpcG1hAAAAAAAAAAEAAQQBAoMEAAAALW1kYXQSAAoIGAAGiAhoNCAyFxlHh4Yhh5555oAAAJBAyRjbu51tkhGY',
  webp: 'UklGRjgAAABXRUJQVlA4ICwAAACwAQCdASoBAAEAAsBMJaACdLoAAAAAAOyPwrFP8W0joUyH/xDnEFtR1iAAAA==',
};

let decodable = null; // Promise of the Set of EXTRA_FORMATS this browser decodes, asked once

function decodableFormats() {
  if (!decodable) {
    const probe = ([name, base64]) => {
      if (typeof createImageBitmap !== 'function') return Promise.resolve(null);
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      return createImageBitmap(new Blob([bytes], { type: `image/${name}` })).then(
        (bitmap) => (bitmap.close(), name),
        () => null,
      );
    };
    decodable = Promise.all(Object.entries(PROBES).map(probe)).then((names) => new Set(names.filter(Boolean)));
  }
  return decodable;
}

// ---- Fetching with the token --------------------------------------------------------------------
// Without a token the browser loads an href itself (and caches it); with one, we fetch the file
// with the header and show it through a blob: URL, fetched once per page shown.
const blobs = new Map(); // href -> Promise of a blob: URL

function thumbnailSource(href) {
  if (!state.token) return Promise.resolve(href);
  if (!blobs.has(href)) {
    const loading = fetch(href, { headers: authHeaders() }).then((response) => {
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return response.blob().then((blob) => URL.createObjectURL(blob));
    });
    loading.catch(() => blobs.delete(href)); // try again on the next refresh
    blobs.set(href, loading);
  }
  return blobs.get(href);
}

// Revokes every blob: URL but those of `keep` (by default: every rendition the page shows now).
function forgetBlobs(keep = new Set([...document.querySelectorAll('img[data-href]')].map((img) => img.dataset.href))) {
  for (const [href, loading] of blobs) {
    if (keep.has(href)) continue;
    blobs.delete(href);
    loading.then(URL.revokeObjectURL, () => {});
  }
}

// ---- Choosing a size ------------------------------------------------------------------------------
// The size in CSS pixels a photo is shown at within `box`: the aspect ratio of its largest
// rendition, never larger than that rendition (a small source is not blown up).
function shownSize(renditions, box) {
  const { width, height } = renditions[renditions.length - 1];
  const scale = Math.min(1, box.width / width, box.height / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

// A `srcset` of one format's renditions (smallest first), from their hrefs: the API's own
// `srcset` names `public_url` when a CDN serves them, which the page's CSP (img-src 'self') refuses.
function srcsetOf(renditions) {
  const byWidth = new Map();
  for (const r of renditions) if (!byWidth.has(r.width)) byWidth.set(r.width, r.href);
  return [...byWidth].map(([width, href]) => `${href} ${width}w`).join(', ');
}

// What the browser takes from a srcset: in the first of `formats` there is, the smallest
// rendition at least `width` CSS px × devicePixelRatio wide, else the largest.
function pickRendition(renditions, formats, width) {
  const needed = width * (window.devicePixelRatio || 1);
  for (const format of formats) {
    const own = renditions.filter((r) => r.format === format);
    if (own.length) return own.find((r) => r.width >= needed) || own[own.length - 1];
  }
  return renditions[renditions.length - 1];
}

// ---- Painting -------------------------------------------------------------------------------------
// The ThumbHash goes in as a blob: URL, not a data: URL, so the CSP's img-src stays 'self' blob:;
// it is revoked once the rendition covers it (or the image is given another photo).
function paintPlaceholder(img, placeholder) {
  if (!placeholder) return;
  img.classList.add('placeheld');
  if (placeholder.color) img.style.backgroundColor = placeholder.color;
  if (!placeholder.thumbhash) return;
  try {
    img.dataset.placeholder = thumbHashToBlobURL(placeholder.thumbhash);
    img.style.backgroundImage = `url("${img.dataset.placeholder}")`;
  } catch (error) {
    console.warn('The photo placeholder could not be decoded; showing its colour.', error);
  }
}

function clearPlaceholder(img) {
  if (img.dataset.placeholder) URL.revokeObjectURL(img.dataset.placeholder);
  delete img.dataset.placeholder;
  img.classList.remove('placeheld');
  img.style.backgroundImage = '';
  img.style.backgroundColor = '';
}

// Empties `img` (in its <picture>): no rendition, no placeholder, nothing left to revoke.
function clearPicture(img) {
  clearPlaceholder(img);
  img.parentElement.querySelectorAll('source').forEach((source) => source.remove());
  for (const name of ['src', 'srcset', 'sizes', 'width', 'height']) img.removeAttribute(name);
  img.style.aspectRatio = '';
  delete img.dataset.key;
  delete img.dataset.href;
  img.onload = null;
}

// Shows `photo` in `img`, an <img> inside a <picture>, fitted in `box` ({width, height} in CSS
// px): the placeholder at once, at the final size (width and height from the rendition, so
// nothing moves when it arrives), then the rendition. Does nothing while the renditions are the
// same; `img` is hidden for a photo without any.
function showPicture(img, photo, box) {
  const renditions = photo.renditions || [];
  const key = renditions.map((r) => r.href).join(' ');
  if (img.dataset.key === key) return;
  clearPicture(img);
  img.dataset.key = key;
  img.hidden = renditions.length === 0;
  if (img.hidden) return;
  const size = shownSize(renditions, box);
  Object.assign(img, size);
  // Not `auto`: the file's own ratio, a rounding away, must not move the box by a fraction of a pixel.
  img.style.aspectRatio = `${size.width} / ${size.height}`;
  paintPlaceholder(img, photo.placeholder);
  img.onload = () => clearPlaceholder(img); // a transparent photo shows no blur behind it
  const base = photo.base_format || renditions[0].format;
  const sizes = `${size.width}px`;
  if (state.token) {
    const retry = () => img.dataset.key === key && delete img.dataset.key; // the next refresh tries again
    decodableFormats()
      .then((formats) => {
        const best = [...EXTRA_FORMATS.filter((f) => f !== base && formats.has(f)), base];
        const rendition = pickRendition(renditions, best, size.width);
        if (img.dataset.key !== key) return;
        img.dataset.href = rendition.href;
        return thumbnailSource(rendition.href).then((src) => img.dataset.key === key && (img.src = src));
      })
      .catch(retry);
    return;
  }
  // Sources first, then the <img>'s srcset before its src: the browser chooses once, from all.
  for (const format of EXTRA_FORMATS.filter((f) => f !== base)) {
    const own = renditions.filter((r) => r.format === format);
    if (!own.length) continue;
    const source = document.createElement('source');
    Object.assign(source, { type: own[0].media_type || `image/${format}`, srcset: srcsetOf(own), sizes });
    img.before(source);
  }
  const own = renditions.filter((r) => r.format === base);
  const list = own.length ? own : renditions;
  const fallback = (photo.thumbnails || []).find((t) => t.format === base) || list[list.length - 1];
  Object.assign(img, { sizes, srcset: srcsetOf(list), src: fallback.href });
}

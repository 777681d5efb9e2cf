() => {
  // Explore's fast pictures (gan_demo/ui/explore_images.py serves them): one lane per picture, at most one
  // request in flight; a move made meanwhile waits as the lane's single "next" (older ones are dropped), so
  // the picture follows the hand at the server's pace and never lags behind a queue.
  if (window.ganExplore) return [];
  const lanes = {};
  const note = (sel, text) => {
    // a refusal (an expired page, too many requests) is said where the readout is; the next readout replaces it
    const host = document.querySelector(sel);
    if (host) host.setAttribute('title', text || '');
    const box = sel === '#explore-image' ? document.querySelector('#explore-readout .prose') : null;
    if (box && text) box.textContent = '⚠ ' + text;
  };
  async function run(sel, lane) {
    lane.busy = true;
    while (lane.next) {
      const url = lane.next;
      lane.next = null;
      try {
        const response = await fetch(url, {credentials: 'same-origin', cache: 'default'});
        if (!response.ok) { note(sel, (await response.text()).slice(0, 300)); continue; }
        const blob = await response.blob();
        const img = document.querySelector(sel + ' img');
        if (!img) continue;
        const src = URL.createObjectURL(blob);
        lane.urls.push(src);
        while (lane.urls.length > 3) URL.revokeObjectURL(lane.urls.shift());
        img.src = src;
        const link = document.querySelector(sel + ' a[download]');
        if (link) link.href = src;  // the download button saves what is shown
        const score = response.headers.get('X-Score');
        img.dataset.score = score === null ? '' : score;
        note(sel, '');
      } catch (err) {
        note(sel, 'The picture could not be fetched: ' + err);
      }
    }
    lane.busy = false;
  }
  function request(sel, url) {
    const lane = lanes[sel] || (lanes[sel] = {busy: false, next: null, urls: []});
    lane.next = url;
    if (!lane.busy) run(sel, lane);
  }
  function latent(route, seed, mode, truncation, label, offsets, from) {
    if (!route) return;
    const q = new URLSearchParams();
    q.set('seed', String(seed === null || seed === undefined || seed === '' ? 0 : seed));
    q.set('truncation', String(truncation));
    if (label !== null && label !== undefined && label !== '') q.set('label', String(label));
    q.set('mode', String(mode));
    q.set('offsets', offsets.map((v) => Number(v) || 0).join(','));
    if (from) q.set('from', from);
    request('#explore-image', route + (route.includes('?') ? '&' : '?') + q.toString());
  }
  window.ganExplore = {request, latent};
  return [];
}

() => {
  // Explore's fast pictures (gan_demo/ui/explore_images.py serves them): one lane per picture, at most one
  // request in flight; a move made meanwhile waits as the lane's single "next" (older ones are dropped), so
  // the picture follows the hand at the server's pace and never lags behind a queue.
  // A request's promise settles with what the page should say beside the picture: {readout} (the route's
  // X-Readout header, the Markdown for the latent shown), {error} (a refusal) or {stale} (a later move took
  // its place). Explore's readout is set from it by a frontend-only Gradio event: a backend event per move
  // would make Gradio refresh every component's loading status twice (~25 ms each of the page's main thread,
  // measured), and the picture's response waits behind that work.
  // A slider's move is also asked for early: Gradio's event reaches latent() ~3-8 ms after the browser's
  // `input` (measured: README, Latency), so the page's own listener requests the same URL at once from the
  // sliders it reads and the context of the last latent() call. That early answer is shown only when Gradio's
  // event asks for the same URL (the event stays the one authority on what is shown); an early request that
  // no event confirms is dropped by the next move, or after EARLY_WAIT_MS.
  if (window.ganExplore) return [];
  const EARLY_WAIT_MS = 1000;
  const lanes = {};
  const note = (sel, text) => {
    const host = document.querySelector(sel);
    if (host) host.setAttribute('title', text || '');
  };
  function dataUrl(type, buffer) {
    // a data: URL, not a blob: URL: the renderer decodes it without asking the browser process for the blob
    const bytes = new Uint8Array(buffer);
    let text = '';
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return 'data:' + type + ';base64,' + btoa(text);
  }
  function job(url, confirmed) {
    const j = {url, waiters: [], confirmed: false, dropped: false, waiting: false};
    j.ready = new Promise((release) => { j.release = release; });
    if (confirmed) confirm(j);
    return j;
  }
  function confirm(j) { j.confirmed = true; j.release(true); }
  function drop(j) {
    j.dropped = true;
    for (const done of j.waiters.splice(0)) done({stale: true});
    j.release(false);
  }
  function settle(j, answer) {
    for (const done of j.waiters.splice(0)) done(answer);
  }
  function put(lane, j) {
    if (lane.next) drop(lane.next);
    if (lane.current && lane.current.waiting && !lane.current.confirmed) drop(lane.current);  // a later move came
    lane.next = j;
    if (!lane.busy) run(lane);
  }
  async function run(lane) {
    lane.busy = true;
    while (lane.next) {
      const j = lane.next;
      lane.next = null;
      lane.current = j;
      try {
        const response = await fetch(j.url, {credentials: 'same-origin', cache: 'default'});
        const body = response.ok ? await response.arrayBuffer() : (await response.text()).slice(0, 300);
        if (!j.confirmed && lane.next) drop(j);  // answered, unconfirmed, and a later move is waiting
        if (!j.confirmed && !j.dropped) {
          j.waiting = true;
          let timer;
          await Promise.race([j.ready, new Promise((r) => { timer = setTimeout(r, EARLY_WAIT_MS); })]);
          clearTimeout(timer);
        }
        if (!j.confirmed || j.dropped) { if (!j.dropped) drop(j); continue; }
        if (!response.ok) {
          note(lane.sel, body);
          settle(j, {error: body});
          continue;
        }
        const img = document.querySelector(lane.sel + ' img');
        if (!img) { settle(j, {stale: true}); continue; }
        const src = dataUrl(response.headers.get('Content-Type') || 'image/png', body);
        img.src = src;
        const link = document.querySelector(lane.sel + ' a[download]');
        if (link) link.href = src;  // the download button saves what is shown
        const score = response.headers.get('X-Score');
        img.dataset.score = score === null ? '' : score;
        note(lane.sel, '');
        const readout = response.headers.get('X-Readout');
        settle(j, {readout: readout === null ? undefined : decodeURIComponent(readout)});
      } catch (err) {
        const text = 'The picture could not be fetched: ' + err;
        if (j.confirmed) note(lane.sel, text);
        settle(j, {error: text});
      } finally {
        lane.current = null;
      }
    }
    lane.busy = false;
  }
  function laneOf(sel) {
    return lanes[sel] || (lanes[sel] = {sel, busy: false, current: null, next: null});
  }
  function request(sel, url) {
    // the picture to show for a move: joins an early request for the same URL, else asks anew
    const lane = laneOf(sel);
    return new Promise((done) => {
      const same = [lane.current, lane.next].find((j) => j && j.url === url && !j.dropped);
      if (same) {
        same.waiters.push(done);
        confirm(same);
        return;
      }
      const j = job(url, true);
      j.waiters.push(done);
      put(lane, j);
    });
  }
  function early(sel, url) {
    const lane = laneOf(sel);
    if ([lane.current, lane.next].some((j) => j && j.url === url && !j.dropped)) return;
    put(lane, job(url, false));
  }
  function latentUrl(route, seed, mode, truncation, label, offsets, from) {
    const q = new URLSearchParams();
    q.set('seed', String(seed === null || seed === undefined || seed === '' ? 0 : seed));
    q.set('truncation', String(truncation));
    if (label !== null && label !== undefined && label !== '') q.set('label', String(label));
    q.set('mode', String(mode));
    q.set('offsets', offsets.map((v) => Number(v) || 0).join(','));
    if (from) q.set('from', from);
    return route + (route.includes('?') ? '&' : '?') + q.toString();
  }
  let context = null;  // the last latent() call's route, seed, mode and label: what a slider's move keeps
  function latent(route, seed, mode, truncation, label, offsets, from) {
    // resolves with the readout's new Markdown, or undefined to leave it (a stale move, no route)
    if (!route) return Promise.resolve(undefined);
    context = {route, seed, mode, label};
    return request('#explore-image', latentUrl(route, seed, mode, truncation, label, offsets, from))
      .then((r) => (r.error ? '⚠ ' + r.error : r.readout));
  }
  const rangeOf = (host) => host && host.querySelector('input[type=range]');
  document.addEventListener('input', (event) => {
    const target = event.target;
    if (!context || !(target instanceof HTMLInputElement) || target.type !== 'range') return;
    if (!target.closest('[id^="explore-slider-"], #explore-truncation')) return;
    const offsets = [];
    for (let i = 0; ; i++) {
      const range = rangeOf(document.getElementById('explore-slider-' + i));
      if (!range) break;
      offsets.push(Number(range.value));
    }
    const psi = rangeOf(document.getElementById('explore-truncation'));
    if (!psi || !offsets.length) return;
    early('#explore-image', latentUrl(context.route, context.seed, context.mode, Number(psi.value), context.label,
                                      offsets, ''));
  }, true);
  window.ganExplore = {request, latent};
  return [];
}

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
  // Look-ahead: once a fixed run's picture (a pretrained run: the route lets the browser keep it) is shown, the
  // pictures of the notches next to it on the slider the hand moved last are fetched ahead (`ahead=1`: the
  // server declines with 204 while a run trains, and the page then stops looking ahead for a while) and kept
  // decoded, so the next notch (an arrow key, a slow drag) is shown from memory at once, before Gradio's event
  // confirms it, instead of after a round trip. After a jump (a click on the track), as after a slider's first move, the
  // notches either side of where it landed are fetched (the hand usually goes on from there a notch at a time).
  // The notches come several to a request (`along`, `values`: the route draws each as it would alone), asked
  // for again only when fewer than AHEAD_REFILL are left ahead of the hand: a hand moving a notch every frame
  // then stays inside what is kept (one picture a request fell behind it: README, Latency).
  // A click on a track (a jump) is fetched ahead too: a hand reaching for a point on a slider rests there before
  // it presses, so once the pointer has rested HOVER_MS over a track, the notch under it and one either side are
  // fetched; the click then shows its picture from memory. Where a click lands is worked out as the browser does
  // (the thumb's centre runs from one end of the track to the other), the thumb's width learnt from each click.
  if (window.ganExplore) return [];
  const EARLY_WAIT_MS = 1000;
  const AHEAD_MAX = 64;  // pictures kept (fetched ahead or shown before), the oldest dropped first
  const AHEAD_PAUSE_MS = 3000;  // after a declined look-ahead (a run is training), none for this long
  const AHEAD_LANES = 2;  // look-ahead requests in flight at once
  const AHEAD_NOTCHES = 6;  // notches asked for ahead the way the hand goes (and one back), one request
  const AHEAD_REFILL = 3;  // ask again once fewer notches than this ahead of the hand are kept or asked for
  const HOVER_MS = 40;  // the pointer at rest over a track this long: fetch the notches under it
  const lanes = {};
  const kept = new Map();  // url -> a fixed picture's answer
  const pending = new Map();  // url -> the promise of a look-ahead answer still in flight
  let aheadBusy = 0, aheadPausedUntil = 0;
  // pictures shown from memory, shown after a request, asked for ahead (of them for a pointer resting on a
  // track), and kept from those (decoded)
  const stats = {memory: 0, asked: 0, ahead: 0, hover: 0, kept: 0};
  // the range input the hand moved last, its value, and its way: +1 / -1 (a notch), 0 (its first move, or a jump)
  let moved = null, movedFrom = null, heading = 0;
  let fixedShown = false;  // the picture shown last was a fixed run's (only those are fetched ahead)
  let thumb = 16;  // the range thumb's width in px (Gradio's slider), learnt from each click on a track
  let hover = null, pressed = null;  // {range, x, timer}: the pointer over a track; {range, x, at}: its last press
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
  function keep(url, answer) {
    kept.delete(url);
    kept.set(url, answer);
    while (kept.size > AHEAD_MAX) kept.delete(kept.keys().next().value);
  }
  async function ask(url) {
    // {ok, src, score, readout, fixed, pixels} or {ok: false, text}; null when a look-ahead was declined (204)
    const response = await fetch(url, {credentials: 'same-origin', cache: 'default'});
    if (response.status === 204) return null;
    if (!response.ok) return {ok: false, text: (await response.text()).slice(0, 300)};
    const body = await response.arrayBuffer();
    const readout = response.headers.get('X-Readout');
    return {ok: true, src: dataUrl(response.headers.get('Content-Type') || 'image/png', body),
            score: response.headers.get('X-Score'), readout: readout === null ? undefined : decodeURIComponent(readout),
            fixed: /max-age=[1-9]/.test(response.headers.get('Cache-Control') || ''),
            pixels: Number(response.headers.get('X-Pixelated')) || 0};  // the width to show it at, enlarged
  }
  async function askMany(url) {
    // a look-ahead's pictures, in the order asked: [answer, ...]; null when declined (204) or refused
    const response = await fetch(url, {credentials: 'same-origin', cache: 'default'});
    if (response.status === 204 || !response.ok) return response.status === 204 ? null : [];
    const body = await response.arrayBuffer(), h = (name) => response.headers.get(name) || '';
    const lengths = h('X-Parts').split(',').map(Number), readouts = h('X-Readouts').split(','),
          scores = h('X-Scores').split(','), type = h('X-Part-Type') || 'image/png';
    const fixed = /max-age=[1-9]/.test(h('Cache-Control')), pixels = Number(h('X-Pixelated')) || 0;
    let at = 0;
    return lengths.map((n, i) => {
      const part = body.slice(at, at += n);
      return {ok: true, src: dataUrl(type, part), score: scores[i] || null, fixed, pixels,
              readout: readouts[i] === undefined ? undefined : decodeURIComponent(readouts[i])};
    });
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
        let answer = kept.get(j.url);
        const inMemory = Boolean(answer);
        if (!answer && pending.has(j.url)) answer = await pending.get(j.url);  // a look-ahead already asked
        if (!answer) answer = await ask(j.url);
        if (answer.ok && answer.fixed) keep(j.url, answer);
        if (!j.confirmed && lane.next) drop(j);  // answered, unconfirmed, and a later move is waiting
        // A kept picture for the hand's move is shown at once, before Gradio's event confirms it, while the
        // picture on the page is still the one this lane put there: then nothing but a move of these sliders
        // (which this listener saw) changed the view since, so the early url is the one the event will ask for.
        let shown = false;
        if (inMemory && !j.confirmed && !j.dropped && answer.ok && untouched(lane)) shown = show(lane, j, answer);
        if (!j.confirmed && !j.dropped) {
          j.waiting = true;
          let timer;
          await Promise.race([j.ready, new Promise((r) => { timer = setTimeout(r, EARLY_WAIT_MS); })]);
          clearTimeout(timer);
        }
        if (!j.confirmed || j.dropped) { if (!j.dropped) drop(j); continue; }
        if (!answer.ok) {
          note(lane.sel, answer.text);
          settle(j, {error: answer.text});
          continue;
        }
        if (!shown && !show(lane, j, answer)) { settle(j, {stale: true}); continue; }
        stats[inMemory ? 'memory' : 'asked'] += 1;
        // the readout once the picture is painted: Gradio's Markdown update is main-thread work that would
        // otherwise hold the picture's frame back (the text follows a frame later)
        requestAnimationFrame(() => setTimeout(() => settle(j, {readout: answer.readout}), 0));
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
  function show(lane, j, answer) {
    // the answer's picture on the page (false when the page has no picture there now)
    const img = document.querySelector(lane.sel + ' img');
    if (!img) return false;
    img.src = answer.src;
    lane.shownSrc = answer.src;
    // a picture at its own size (a 32 px digit) is enlarged by the browser, its pixels kept crisp, to the size
    // of the enlarged picture Gradio's own events put there (Gradio's image only ever scales a picture down)
    const side = answer.pixels ? answer.pixels + 'px' : '';
    Object.assign(img.style, {imageRendering: answer.pixels ? 'pixelated' : '', objectFit: answer.pixels ? 'contain' : '',
                              maxWidth: side, maxHeight: side});
    const link = document.querySelector(lane.sel + ' a[download]');
    // the download button saves what is shown, enlarged as on screen
    if (link) link.href = answer.pixels ? j.url + '&size=view' : answer.src;
    img.dataset.score = answer.score === null ? '' : answer.score;
    note(lane.sel, '');
    if (lane.sel === '#explore-image') fixedShown = Boolean(answer.fixed);
    if (answer.fixed && lane.sel === '#explore-image') lookAhead();
    return true;
  }
  function untouched(lane) {
    const img = document.querySelector(lane.sel + ' img');
    return Boolean(img && lane.shownSrc && img.getAttribute('src') === lane.shownSrc);
  }
  function laneOf(sel) {
    return lanes[sel] || (lanes[sel] = {sel, busy: false, current: null, next: null, shownSrc: null});
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
  function sliderUrl(changed, value) {
    // the picture's url for the sliders as they stand, `changed` (one of them) at `value`
    const offsets = [];
    for (let i = 0; ; i++) {
      const range = rangeOf(document.getElementById('explore-slider-' + i));
      if (!range) break;
      offsets.push(Number(range === changed ? value : range.value));
    }
    const psi = rangeOf(document.getElementById('explore-truncation'));
    if (!context || !psi || !offsets.length) return null;
    return latentUrl(context.route, context.seed, context.mode, Number(psi === changed ? value : psi.value),
                     context.label, offsets, '');
  }
  function probeOf(range, value) {
    // a detached range input with range's min, max and step, holding value as range would (clamped, on its step)
    const probe = document.createElement('input');
    probe.type = 'range';
    probe.min = range.min; probe.max = range.max; probe.step = range.step; probe.value = String(value);
    return probe;
  }
  function valueAt(range, x) {
    // the value a click at x (client px) sets: the thumb's centre runs from thumb/2 inside one end to the other
    const box = range.getBoundingClientRect(), min = Number(range.min), max = Number(range.max);
    const span = box.width - thumb;
    if (!(span > 0) || !(max > min)) return null;
    return probeOf(range, min + Math.min(1, Math.max(0, (x - box.left - thumb / 2) / span)) * (max - min)).value;
  }
  function learnThumb(range, x) {
    // after a click at x set range's value: the thumb width that puts that value there
    const box = range.getBoundingClientRect(), min = Number(range.min), max = Number(range.max);
    const f = (Number(range.value) - min) / (max - min);
    if (!(Math.abs(0.5 - f) > 0.15)) return;  // near the middle the width hardly matters, and cannot be told
    const t = (x - box.left - f * box.width) / (0.5 - f);
    if (t >= 0 && t <= Math.min(48, box.width / 2)) thumb = t;
  }
  function hoverAhead() {
    // the pointer rests over a track: the notch a click there would set, and one either side
    const h = hover;
    if (!h || !h.range.isConnected || !fixedShown || performance.now() < aheadPausedUntil) return;
    const value = valueAt(h.range, h.x);
    if (value === null) return;
    const wanted = [];
    for (const v of [value, notch(h.range, 1, value), notch(h.range, -1, value)]) {  // null: past an end
      const url = v === null || v === h.range.value ? null : sliderUrl(h.range, v);
      if (url && !kept.has(url) && !pending.has(url)) wanted.push({value: v, url});
    }
    if (fetchAhead(h.range, wanted)) stats.hover += wanted.length;
  }
  const exploreRange = (target) => target instanceof HTMLInputElement && target.type === 'range'
    && target.closest('[id^="explore-slider-"], #explore-truncation');
  document.addEventListener('pointermove', (event) => {
    if (event.pointerType !== 'mouse' && event.pointerType !== 'pen') return;
    if (!exploreRange(event.target) || event.buttons) {  // off the tracks, or a drag (its notches come ahead)
      if (hover) { clearTimeout(hover.timer); hover = null; }
      return;
    }
    if (hover) clearTimeout(hover.timer);
    hover = {range: event.target, x: event.clientX, timer: setTimeout(hoverAhead, HOVER_MS)};
  }, {capture: true, passive: true});
  document.addEventListener('pointerdown', (event) => {
    if (exploreRange(event.target)) pressed = {range: event.target, x: event.clientX, at: performance.now()};
  }, {capture: true, passive: true});
  function notch(range, n, from = range.value) {
    // the value n steps from `from` (the range's), as the browser writes it (an arrow key gives exactly this),
    // or null past an end
    const probe = probeOf(range, from);
    try { if (n > 0) probe.stepUp(n); else probe.stepDown(-n); } catch (err) { return null; }
    return probe.value !== from ? probe.value : null;
  }
  function lookAhead() {
    // after a one-notch move (an arrow key, a slow drag): the next AHEAD_NOTCHES notches the way the hand went
    // and one back, once fewer than AHEAD_REFILL ahead are kept or asked for; after the first move of a slider
    // or a jump: two either side
    if (!moved || !moved.isConnected || performance.now() < aheadPausedUntil) return;
    if (aheadBusy >= AHEAD_LANES) return;
    const steps = heading ? Array.from({length: AHEAD_NOTCHES}, (_, i) => (i + 1) * heading).concat([-heading])
      : [1, -1, 2, -2];
    const wanted = [];
    for (const n of steps) {
      const value = notch(moved, n), url = value === null ? null : sliderUrl(moved, value);
      if (url) wanted.push({n, value, url});
    }
    const have = (w) => kept.has(w.url) || pending.has(w.url);
    const ahead = wanted.filter((w) => heading && Math.sign(w.n) === heading);
    if (heading && ahead.slice(0, AHEAD_REFILL).every(have) && wanted.filter((w) => w.n === -heading).every(have)) return;
    fetchAhead(moved, wanted.filter((w) => !have(w)));
  }
  function fetchAhead(range, missing) {
    // the pictures of `range` (a latent slider or the truncation) at each missing value, in one look-ahead
    // request; false when there is nothing to ask for (or no latent yet)
    const slider = range.closest('[id^="explore-slider-"]'), base = sliderUrl(null, null);
    if (!missing.length || !base) return false;
    const along = slider ? slider.id.slice('explore-slider-'.length) : 'truncation';
    askAhead(missing, base + '&ahead=1&along=' + along + '&values=' + missing.map((w) => w.value).join(','));
    return true;
  }
  async function askAhead(missing, url) {
    aheadBusy += 1;
    stats.ahead += missing.length;
    const answers = askMany(url).catch(() => []);
    // each notch's own answer (null: none, and a lane that needs it asks for it itself)
    missing.forEach((w, i) => pending.set(w.url, answers.then((all) => (all && all[i]) || null)));
    const got = await answers;
    for (const w of missing) pending.delete(w.url);
    if (got === null) {  // declined (a run trains): no look-ahead for a while
      aheadPausedUntil = performance.now() + AHEAD_PAUSE_MS;
    } else {
      const decoding = [];
      missing.forEach((w, i) => {
        const answer = got[i];
        if (!answer || !answer.ok || !answer.fixed) return;
        keep(w.url, answer);
        const decoded = new Image();  // decoded now, so showing it later costs no decode
        decoded.src = answer.src;
        decoding.push(decoded.decode().catch(() => {}).then(() => { stats.kept += 1; }));
      });
      await Promise.all(decoding);
    }
    aheadBusy -= 1;
    if (got && got.length) lookAhead();  // the hand may have gone past what this asked for meanwhile
  }
  document.addEventListener('input', (event) => {
    const target = event.target;
    if (!exploreRange(target)) return;
    if (pressed && pressed.range === target && performance.now() - pressed.at < 100) learnThumb(target, pressed.x);
    pressed = null;
    const value = Number(target.value), step = Number(target.step) || 0;
    const notchMove = step > 0 && Math.abs(Math.abs(value - movedFrom) - step) < step * 1e-3;
    heading = target !== moved || !notchMove ? 0 : Math.sign(value - movedFrom);
    moved = target;
    movedFrom = value;
    const url = sliderUrl(null, null);  // null before the first latent() call gave the context
    if (url) early('#explore-image', url);
  }, true);
  window.ganExplore = {request, latent, stats};
  return [];
}

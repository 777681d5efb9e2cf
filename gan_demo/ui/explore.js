() => {
  // Explore's fast pictures (gan_demo/ui/explore_images.py serves them): one lane per picture, at most one
  // request in flight; a move made meanwhile waits as the lane's single "next" (older ones are dropped), so
  // the picture follows the hand at the server's pace and never lags behind a queue.
  // A request's promise settles with what the page should say beside the picture: {readout} (the route's
  // X-Readout header, the Markdown for the latent shown), {error} (a refusal) or {stale} (a later move took
  // its place). Explore's readout is set from it by a frontend-only Gradio event: a backend event per move
  // would make Gradio refresh every component's loading status twice (~25 ms each of the page's main thread,
  // measured), and the picture's response waits behind that work.
  if (window.ganExplore) return [];
  const lanes = {};
  const note = (sel, text) => {
    const host = document.querySelector(sel);
    if (host) host.setAttribute('title', text || '');
  };
  async function run(sel, lane) {
    lane.busy = true;
    while (lane.next) {
      const {url, done} = lane.next;
      lane.next = null;
      try {
        const response = await fetch(url, {credentials: 'same-origin', cache: 'default'});
        if (!response.ok) {
          const text = (await response.text()).slice(0, 300);
          note(sel, text);
          done({error: text});
          continue;
        }
        const blob = await response.blob();
        const img = document.querySelector(sel + ' img');
        if (!img) { done({stale: true}); continue; }
        const src = URL.createObjectURL(blob);
        lane.urls.push(src);
        while (lane.urls.length > 3) URL.revokeObjectURL(lane.urls.shift());
        img.src = src;
        const link = document.querySelector(sel + ' a[download]');
        if (link) link.href = src;  // the download button saves what is shown
        const score = response.headers.get('X-Score');
        img.dataset.score = score === null ? '' : score;
        note(sel, '');
        const readout = response.headers.get('X-Readout');
        done({readout: readout === null ? undefined : decodeURIComponent(readout)});
      } catch (err) {
        const text = 'The picture could not be fetched: ' + err;
        note(sel, text);
        done({error: text});
      }
    }
    lane.busy = false;
  }
  function request(sel, url) {
    const lane = lanes[sel] || (lanes[sel] = {busy: false, next: null, urls: []});
    if (lane.next) lane.next.done({stale: true});
    const answer = new Promise((done) => { lane.next = {url, done}; });
    if (!lane.busy) run(sel, lane);
    return answer;
  }
  function latent(route, seed, mode, truncation, label, offsets, from) {
    // resolves with the readout's new Markdown, or undefined to leave it (a stale move, no route)
    if (!route) return Promise.resolve(undefined);
    const q = new URLSearchParams();
    q.set('seed', String(seed === null || seed === undefined || seed === '' ? 0 : seed));
    q.set('truncation', String(truncation));
    if (label !== null && label !== undefined && label !== '') q.set('label', String(label));
    q.set('mode', String(mode));
    q.set('offsets', offsets.map((v) => Number(v) || 0).join(','));
    if (from) q.set('from', from);
    return request('#explore-image', route + (route.includes('?') ? '&' : '?') + q.toString())
      .then((r) => (r.error ? '⚠ ' + r.error : r.readout));
  }
  window.ganExplore = {request, latent};
  return [];
}

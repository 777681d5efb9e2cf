() => {
  // The Train tab's live picture and status line from the plain route GET /train/live (gan_demo/ui/live_route.py),
  // not from a Gradio event per refresh. follow(route) polls the run that address names, one request at a time,
  // at the pace the server gives (X-Refresh: slower when a class trains): a new step brings its picture (PNG), which
  // replaces the Samples picture; every answer brings the status line. When the run's state changes (it paused,
  // finished, was stopped) the page asks the tab's own Gradio event at once (the hidden refresh button), which
  // redraws what changes rarely: buttons, curves, the timeline. It stops when the run ends or is gone.
  if (window.ganLive) return [];
  const ENDED = new Set(['finished', 'stopped', 'diverged', 'failed', 'gone']);
  const RETRY_MS = 3000;  // after a network error or a refusal for too many requests
  const stats = {polls: 0, pictures: 0, refreshes: 0, shownStep: null, state: null};
  let route = '', generation = 0, timer = null, have = '';
  function dataUrl(type, buffer) {
    const bytes = new Uint8Array(buffer);
    let text = '';
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return 'data:' + type + ';base64,' + btoa(text);
  }
  function refresh() {
    // the Train tab's Gradio event (the same one its timer sends): buttons, message, curves, timeline
    const button = document.querySelector('#train_live_refresh');
    if (button) { stats.refreshes += 1; button.click(); }
  }
  function showStatus(markup) {
    // the status line's Markdown block, as Gradio rendered it (its own next update replaces it again)
    const host = document.querySelector('#train_status .prose') || document.querySelector('#train_status');
    if (!host) return;
    const block = host.querySelector('p') || host;
    if (block.innerHTML !== markup) block.innerHTML = markup;
  }
  function showPicture(src) {
    // the Samples picture Gradio drew (its first one comes with the tab's first update after Start)
    const img = document.querySelector('#train_grid img');
    if (!img) return false;
    img.src = src;
    return true;
  }
  async function poll(mine) {
    if (mine !== generation || !route) return;
    let wait = 1000;
    try {
      const response = await fetch(route + '&have=' + encodeURIComponent(have), {credentials: 'same-origin', cache: 'no-store'});
      if (mine !== generation) return;
      stats.polls += 1;
      wait = 1000 * (Number(response.headers.get('X-Refresh')) || 1);
      if (response.status === 429) {
        wait = Math.max(wait, RETRY_MS);
      } else if (!response.ok) {
        return;  // a 403 / 404: the link is not this page's (any more); the tab's own updates carry on
      } else {
        const state = response.headers.get('X-State');
        const status = response.headers.get('X-Status');
        if (response.status === 200) {
          const body = await response.arrayBuffer();
          if (mine !== generation) return;
          if (showPicture(dataUrl(response.headers.get('Content-Type') || 'image/png', body))) {
            have = response.headers.get('X-Step') || '';
            stats.pictures += 1;
            stats.shownStep = Number(have);
          }
        }
        if (status !== null) showStatus(decodeURIComponent(status));
        const changed = stats.state !== null && state !== stats.state;
        stats.state = state;
        if (changed) refresh();
        if (ENDED.has(state)) return;
      }
    } catch (error) {
      wait = RETRY_MS;
    }
    if (mine === generation) timer = setTimeout(() => poll(mine), wait);
  }
  window.ganLive = {
    stats,
    follow(next) {
      // a new address (a new run, or none after Reset): the last one's polling ends
      if ((next || '') === route && timer !== null) return;
      generation += 1;
      clearTimeout(timer);
      timer = null;
      route = next || '';
      have = '';
      stats.state = null;
      if (route) poll(generation);
    },
  };
  return [];
}

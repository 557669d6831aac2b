// @ts-check

/** @typedef {import('./stomp-session.js').StompSession} StompSession */

/**
 * @typedef {object} ProgressUpdate  what a backend job pushes to `/user/queue/progress`
 * @property {number} percent
 * @property {string} [job]
 */

const SIMULATED_STEPS = 10;
const SIMULATED_STEP_MS = 300;

/**
 * The report-progress seed: a backend job pushes `{percent}` to the user through the HTTP API
 * (`POST /api/users/{user}/messages`, destination `/queue/progress`), whichever node it calls;
 * the page listens on `/user/queue/progress`.
 *
 * @param {{
 *   session: StompSession, me: string,
 *   bar: HTMLElement, fill: HTMLElement, percent: HTMLElement, job: HTMLElement,
 *   curlButton: HTMLButtonElement, curl: HTMLElement, simulate: HTMLButtonElement,
 *   onProblem: (text: string) => void,
 * }} options
 */
export function startProgress({ session, me, bar, fill, percent, job, curlButton, curl, simulate, onProblem }) {
  const api = `${location.origin}/api/users/${encodeURIComponent(me)}/messages`;

  session.subscribe('/user/queue/progress', (message) => {
    /** @type {ProgressUpdate} */
    const update = JSON.parse(message.body);
    show(update.percent, update.job);
  });

  /** @param {number} value @param {string} [name] */
  function show(value, name) {
    const p = Math.max(0, Math.min(100, Math.round(Number(value) || 0)));
    fill.style.width = `${p}%`;
    bar.setAttribute('aria-valuenow', String(p));
    bar.classList.toggle('done', p === 100);
    percent.textContent = `${p}%`;
    job.textContent = `${name ?? 'job'} ${p === 100 ? 'finished' : 'running'}`;
  }

  // There is no "start a job" endpoint: a job is any backend that calls the API. Show how.
  curlButton.onclick = () => {
    curl.textContent = [
      '# a backend job pushing progress; when the node has',
      '# API_TOKEN, add -H "authorization: Bearer $API_TOKEN"',
      `API=${api}`,
      'for p in $(seq 10 10 100); do',
      '  curl -s -X POST "$API" \\',
      "    -H 'content-type: application/json' \\",
      `    -d '{"destination":"/queue/progress",`,
      `         "body":{"percent":'$p',"job":"report"}}'`,
      '  sleep 0.5',
      'done',
    ].join('\n');
    curl.hidden = false;
  };

  // What such a backend does, from the page: ten POSTs through this node's HTTP API.
  simulate.onclick = async () => {
    simulate.disabled = true;
    const name = `job-${Math.random().toString(36).slice(2, 6)}`;
    try {
      for (let step = 1; step <= SIMULATED_STEPS; step++) {
        const res = await fetch(api, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ destination: '/queue/progress', body: { percent: step * 10, job: name } }),
        });
        if (res.status !== 202) {
          const answer = await res.json().catch(() => ({}));
          throw new Error(answer?.error?.message ?? `HTTP ${res.status}`);
        }
        if (step < SIMULATED_STEPS) await new Promise((r) => setTimeout(r, SIMULATED_STEP_MS));
      }
    } catch (err) {
      onProblem(`simulated job: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      simulate.disabled = false;
    }
  };

  return { show };
}

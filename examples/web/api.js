// API: the HTTP steps of a browser wallet against tari-wallet-sync (docs/API.md): server key, submit,
// an events ticket per (re)connect of an EventSource, and a download that resumes with Range/If-Range.
// Errors carry the server's stable code.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(`${status} ${code}: ${message}`);
    this.status = status;
    this.code = code;
  }
}

async function fail(response) {
  let code = 'HTTP_' + response.status;
  let message = response.statusText;
  try {
    const body = await response.json();
    code = body.error.code;
    message = body.error.message;
  } catch {
    // Not the service's JSON error (a proxy's page): keep the status.
  }
  return new ApiError(response.status, code, message);
}

export class Api {
  constructor(server) {
    this.server = server.replace(/\/$/, '');
  }

  url(path) {
    return this.server + path;
  }

  async serverKey() {
    const response = await fetch(this.url('/api/v1/server-key'));
    if (!response.ok) throw await fail(response);
    return response.json();
  }

  async submit(body) {
    const response = await fetch(this.url('/api/v1/wallet/sync'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (response.status !== 202) throw await fail(response);
    return response.json();
  }

  async ticket(job, token) {
    const response = await fetch(this.url(job.events_url + '-ticket'), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    if (!response.ok) throw await fail(response);
    return response.json();
  }

  /**
   * Follows the job's events until `ready` or `failed`, calling `onEvent(name, data)`. Each connection
   * uses a fresh single-use ticket: on an error the EventSource is closed (its own reconnect would resend
   * a used ticket) and a new one opened; the first event of every stream is the job's current state.
   */
  follow(job, token, onEvent, { maxReconnects = 10 } = {}) {
    return new Promise((resolve, reject) => {
      let reconnects = 0;
      const connect = async () => {
        let ticket;
        try {
          ticket = await this.ticket(job, token);
        } catch (error) {
          reject(error);
          return;
        }
        const source = new EventSource(this.url(ticket.events_url));
        const handle = (name) => (message) => {
          const data = JSON.parse(message.data);
          onEvent(name, data);
          if (name === 'ready' || name === 'failed') {
            source.close();
            resolve({ name, data });
          }
        };
        for (const name of ['queued', 'progress', 'ready', 'failed']) source.addEventListener(name, handle(name));
        source.onerror = () => {
          source.close();
          if (++reconnects > maxReconnects) {
            reject(new Error('the event stream kept failing'));
            return;
          }
          setTimeout(connect, Math.min(250 * 2 ** reconnects, 5000));
        };
      };
      connect();
    });
  }

  /**
   * Downloads the file, resuming with `Range: bytes=<have>-` and `If-Range: <etag>` after a broken
   * transfer; `onProgress(have, total)`. `interruptAfter` (tests) breaks the first transfer off after
   * that many bytes, as a dropped connection would. Returns the bytes and the ranges asked for.
   */
  async download(url, token, { expectedSize, onProgress = () => {}, maxResumes = 5, interruptAfter = null } = {}) {
    const resumedFrom = [];
    const chunks = [];
    let have = 0;
    let etag = null;
    let total = expectedSize ?? null;
    for (let attempt = 0; ; attempt++) {
      const headers = { authorization: `Bearer ${token}` };
      if (have > 0) {
        headers.range = `bytes=${have}-`;
        if (etag) headers['if-range'] = etag;
        resumedFrom.push(have);
      }
      try {
        const response = await fetch(this.url(url), { headers });
        if (response.status === 200 && have > 0) {
          // The file changed (If-Range did not match): start over.
          chunks.length = 0;
          have = 0;
        } else if (response.status !== 200 && response.status !== 206) {
          throw await fail(response);
        }
        etag = response.headers.get('etag') ?? etag;
        const length = Number(response.headers.get('content-length'));
        if (response.status === 200 && length) total = length;
        const reader = response.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          chunks.push(value);
          have += value.length;
          onProgress(have, total);
          if (attempt === 0 && interruptAfter !== null && have >= interruptAfter) {
            // Keep exactly `interruptAfter` bytes, however the chunks fell.
            const extra = have - interruptAfter;
            chunks[chunks.length - 1] = value.subarray(0, value.length - extra);
            have = interruptAfter;
            await reader.cancel();
            throw new Error('transfer interrupted');
          }
        }
        if (total === null || have >= total) break;
      } catch (error) {
        if (error instanceof ApiError || attempt >= maxResumes) throw error;
      }
    }
    const file = new Uint8Array(have);
    let offset = 0;
    for (const chunk of chunks) {
      file.set(chunk, offset);
      offset += chunk.length;
    }
    return { file, resumedFrom };
  }
}

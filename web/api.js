// The one place that speaks HTTP to trawl's API, with the token kept for this tab only
// (sessionStorage: gone when the tab closes, never sent to another origin).

const KEY = 'trawl.token';

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

/** An error the API answered with (`{error:{code,message,field?}}`), or a network failure. */
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/** Called when the API rejects the token, so the page can ask for another. */
let onUnauthorized = () => {};
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

/** Calls the API with `tok` (default: the stored token); resolves to the parsed JSON body. */
export async function api(method, path, body, tok = token.get()) {
  const headers = { accept: 'application/json' };
  if (tok) headers.authorization = `Bearer ${tok}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'NETWORK', `The server could not be reached (${e.message})`);
  }
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (res.ok) return data;
  const err = data && data.error ? data.error : {};
  const error = new ApiError(
    res.status,
    err.code ?? `HTTP_${res.status}`,
    err.message ?? `${method} ${path} answered ${res.status}`,
    err.field,
  );
  if (res.status === 401 && tok === token.get()) onUnauthorized(error);
  throw error;
}

/** A query string from the defined, non-empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** The live events of a scan; EventSource sends no headers, so the token rides in the URL. */
export function scanEvents(scanId) {
  const q = query({ access_token: token.get() });
  return new EventSource(`/v1/scans/${encodeURIComponent(scanId)}/events${q}`);
}

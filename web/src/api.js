// Talking to the server (docs/http.md): every call is same-origin, so the
// session cookie goes along; every change is JSON (the server refuses a
// change without `Content-Type: application/json`, and one from another
// origin). A refusal becomes an ApiError carrying the server's sentence.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const reasons = {
  401: 'not signed in',
  403: 'refused',
  404: 'not found',
  409: 'refused by the rules',
  503: 'the server is busy or behind: try again',
};

export async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, `the server did not answer (${method} ${path}): ${e.message}`);
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const sentence = data && typeof data.error === 'string' ? data.error : reasons[res.status] || res.statusText;
    throw new ApiError(res.status, `${res.status}: ${sentence}`);
  }
  return data;
}

export const enc = encodeURIComponent;

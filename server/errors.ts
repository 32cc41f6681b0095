/** An error the API answers with its own status and a message that names the problem. */
export class ApiError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 503,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

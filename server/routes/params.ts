import { ApiError } from '../errors';

/** Path parameters: checked before they reach a query, so a malformed one is a 400 naming it. */
export function jobIdParam(id: string): string {
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(id)) throw new ApiError(400, `job id ${JSON.stringify(id.slice(0, 100))} is malformed`, 'id');
  return id;
}

export function scheduleNameParam(name: string): string {
  if (!SCHEDULE_NAME.test(name)) throw new ApiError(400, `schedule name ${JSON.stringify(name.slice(0, 100))} is malformed`, 'name');
  return name;
}

export const SCHEDULE_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

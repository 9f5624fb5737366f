/** Helpers to show a failed request's `fields` next to the inputs they belong to. */
import { ApiError } from "./errors";

export function fieldErrors(error: unknown, name: string): string[] {
  return error instanceof ApiError ? error.fieldErrors(name) : [];
}

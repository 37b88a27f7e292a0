/* Turning whatever was thrown into one line of a log. */

export function messageOf(error: unknown): string {
	if (error instanceof Error)
		return error.message || error.name;
	return String(error);
}

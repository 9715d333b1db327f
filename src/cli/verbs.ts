export function verb(_name: string): (args: string[], flags: object) => Promise<number> {
  return async () => 1;
}

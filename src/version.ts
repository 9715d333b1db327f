/** gitfleet's version, reported by --version and in machine registrations. Keep in step with package.json. */
export const VERSION = '0.1.0';

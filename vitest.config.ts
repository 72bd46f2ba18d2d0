import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start real servers and share 2 cores; a few files at a time is faster
    // than many fighting for the CPU.
    maxWorkers: 2,
  },
});

import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Agents in tests run the compiled dist/ through bin/conclave.js: build it first.
    globalSetup: ['test/runtime/build.global.ts'],
    // Integration tests spawn real agent processes; run files one after another on 2 cores.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})

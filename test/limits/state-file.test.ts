// The state file (src/agent/state.ts) keeps the voter config's writer and signature (core/trust.ts R7), so a
// restarted node can still relay the config it holds; a damaged file is refused, never reset.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { StateFile, StateFileError } from '../../src/agent/state.ts'
import type { StoredState } from '../../src/core/types.ts'

const dir = mkdtempSync(join(tmpdir(), 'conclave-state-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('state file', () => {
  it('round-trips a signed config (writer and signature), and an unsigned one', () => {
    const f = new StateFile(dir)
    const sig = new Uint8Array(64).map((_, i) => i)
    const state: StoredState = { clusterId: 'c1', retired: [], config: { version: 3, term: 7, voters: ['a', 'b'], by: 'a', sig }, maxTerm: 9, promisedTerm: 8, incarnation: 4, peers: [] }
    f.write(state)
    expect(f.read()).toEqual(state)
    const unsigned: StoredState = { ...state, config: { version: 3, term: 7, voters: ['a', 'b'] } }
    f.write(unsigned)
    expect(f.read()).toEqual(unsigned)
  })

  it('refuses a damaged file with the way out', () => {
    const f = new StateFile(dir)
    writeFileSync(f.path, '{"format":2,')
    expect(() => f.read()).toThrow(StateFileError)
    expect(() => f.read()).toThrow(/not valid JSON \(truncated or corrupt\).*move it aside/)
  })
})

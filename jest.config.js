// ESM TypeScript under jest: @swc/jest transforms, node runs with --experimental-vm-modules
// (see package.json "test"). Relative imports carry ".js" for NodeNext; map them to the .ts source.
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' } }],
  },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  // Lab tests share the machine's network namespaces and processes; run files one at a time so
  // their timing stays honest and their cleanup never races another file's.
  maxWorkers: 1,
};

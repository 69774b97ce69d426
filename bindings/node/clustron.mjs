// The ES module entry of clustron (`import { open } from 'clustron'`): the same objects as
// the CommonJS entry, so a program that mixes `import` and `require` loads the addon once.
import clustron from './dist/clustron.js'

export * from './dist/clustron.js'
export default clustron

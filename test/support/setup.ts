import { afterAll } from 'vitest';
import { removeTempDirs } from './tempDirs';

// Registered before the test file's own hooks, so it runs after them (vitest runs after-hooks as a stack).
afterAll(removeTempDirs);

/** `npm run setup:n8n`: installs n8n for the product and the end-to-end tests, when it is not there yet. */
import { defaultRuntimeDir, ensureN8nInstalled, N8N_VERSION } from './n8n';

ensureN8nInstalled(defaultRuntimeDir(), (line) => process.stderr.write(`${line}\n`)).then(
  () => process.stderr.write(`n8n ${N8N_VERSION} is installed in ${defaultRuntimeDir()}\n`),
  (err: Error) => {
    process.stderr.write(`error: ${err.message}\n`);
    process.exitCode = 1;
  },
);

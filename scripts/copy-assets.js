#!/usr/bin/env node
// Copies what tsc does not emit (node icons, codex files, catalog migrations, the web console's page and styles) next to the compiled code in dist/.
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
for (const dir of ['nodes', 'credentials', 'catalog', 'server', 'console']) {
  const walk = (rel) => {
    const abs = path.join(root, rel);
    if (!fs.existsSync(abs)) return;
    for (const entry of fs.readdirSync(abs, { withFileTypes: true })) {
      const child = path.join(rel, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (/\.(svg|png|node\.json|sql|html|css)$/.test(entry.name)) {
        fs.mkdirSync(path.join(root, 'dist', rel), { recursive: true });
        fs.copyFileSync(path.join(root, child), path.join(root, 'dist', child));
      }
    }
  };
  walk(dir);
}

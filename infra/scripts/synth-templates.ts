// Regenerates cloudformation/ (npm run synth). A test fails when the committed files are stale.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { renderTemplates, TEMPLATE_DIR } from '../lib/templates';

fs.mkdirSync(TEMPLATE_DIR, { recursive: true });
for (const [name, content] of renderTemplates()) {
  fs.writeFileSync(path.join(TEMPLATE_DIR, name), content);
  console.log(`wrote cloudformation/${name}`);
}
